import smartcar from 'smartcar';
import { ALL_PERMISSIONS, startSimulator, type RunningSimulator } from '../../../src/simulator';
import { completeConsent } from '../../support/connect';

/** The Vehicles API v2.0, driven by the real smartcar SDK against the simulator. */

let sim: RunningSimulator;
let client: smartcar.AuthClient;

beforeAll(async () => {
  sim = await startSimulator();
  Object.assign(process.env, sim.env);
  client = new smartcar.AuthClient({ clientId: sim.client.clientId, clientSecret: sim.client.clientSecret, redirectUri: 'http://localhost:8000/exchange', mode: 'test' });
});
afterAll(() => sim.stop());
beforeEach(() => sim.resetRequests());

async function connect(username: string, scope: string[] = ALL_PERMISSIONS) {
  const location = await completeConsent(client.getAuthUrl(scope), { username });
  return client.exchangeCode(location.searchParams.get('code')!);
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('getUser and getVehicles (with paging over a 12-car account)', async () => {
  const access = await connect('fleet@example.com');
  const user = await smartcar.getUser(access.accessToken);
  expect(user.id).toBe(sim.user('fleet@example.com').id);
  expect(user.meta.requestId).toMatch(uuid);

  const expected = sim.user('fleet@example.com').vehicles.map((v) => v.id);
  const page1 = await smartcar.getVehicles(access.accessToken);
  expect(page1.vehicles).toEqual(expected.slice(0, 10));
  expect(page1.paging).toEqual({ count: 12, offset: 0 });
  const page2 = await smartcar.getVehicles(access.accessToken, { limit: 10, offset: 10 });
  expect(page2.vehicles).toEqual(expected.slice(10));
  expect(page2.paging).toEqual({ count: 12, offset: 10 });
  await expect(smartcar.getVehicles(access.accessToken, { limit: 51 })).rejects.toMatchObject({ statusCode: 400, type: 'VALIDATION', code: 'PARAMETER' });
  expect(sim.requests().filter((r) => r.kind === 'api').map((r) => r.path)).toEqual(['/v2.0/user/', '/v2.0/vehicles/', '/v2.0/vehicles/', '/v2.0/vehicles/']);
});

test('every read of an EV and of a fuel car, with metadata and units', async () => {
  const access = await connect('family@example.com');
  const [fordId, leafId] = sim.user('family@example.com').vehicles.map((v) => v.id);
  const ford = new smartcar.Vehicle(fordId!, access.accessToken);
  const leaf = new smartcar.Vehicle(leafId!, access.accessToken);
  const leafMiles = new smartcar.Vehicle(leafId!, access.accessToken, { unitSystem: 'imperial' });

  const attrs = await ford.attributes();
  expect(attrs).toMatchObject({ id: fordId, make: 'FORD', model: 'F-150', year: 2019 });
  expect(attrs.meta.requestId).toMatch(uuid);
  expect(attrs.meta.dataAge).toBeUndefined();
  const vin = await ford.vin();
  expect(vin.vin).toMatch(/^1FT[A-HJ-NPR-Z0-9]{14}$/);
  expect(vin.vin).toBe(sim.user('family@example.com').vehicles[0]!.vin);

  const odo = await leaf.odometer();
  expect(odo.distance).toBeGreaterThan(5000);
  expect(odo.meta.unitSystem).toBe('metric');
  expect(odo.meta.dataAge).toBeInstanceOf(Date);
  expect(odo.meta.fetchedAt).toBeInstanceOf(Date);
  expect(odo.meta.fetchedAt!.getTime() - odo.meta.dataAge!.getTime()).toBeLessThanOrEqual(60_000);
  const odoMiles = await leafMiles.odometer();
  expect(odoMiles.meta.unitSystem).toBe('imperial');
  expect(odoMiles.distance).toBeCloseTo(odo.distance / 1.609344, 0);

  const battery = await leaf.battery();
  expect(battery.percentRemaining).toBeGreaterThanOrEqual(0);
  expect(battery.percentRemaining).toBeLessThanOrEqual(1);
  expect(battery.range).toBeCloseTo(battery.percentRemaining * 240, -1);
  expect((await leaf.batteryCapacity()).capacity).toBe(39);
  expect(['CHARGING', 'FULLY_CHARGED', 'NOT_CHARGING']).toContain((await leaf.charge()).state);
  expect((await leaf.getChargeLimit()).limit).toBe(0.8);

  const fuel = await ford.fuel();
  expect(fuel.amountRemaining).toBeCloseTo(fuel.percentRemaining * 98, -1);
  const oil = await ford.engineOil();
  expect(oil.lifeRemaining).toBeGreaterThanOrEqual(0);
  expect(oil.lifeRemaining).toBeLessThanOrEqual(1);
  const tires = await ford.tirePressure();
  expect(Object.keys(tires).sort()).toEqual(['backLeft', 'backRight', 'frontLeft', 'frontRight', 'meta']);
  expect(tires.frontLeft).toBeGreaterThan(200);
  expect((await new smartcar.Vehicle(fordId!, access.accessToken, { unitSystem: 'imperial' }).tirePressure()).frontLeft).toBeLessThan(40);
  const loc = await ford.location();
  expect(Math.abs(loc.latitude)).toBeLessThanOrEqual(90);
  expect((await ford.lockStatus()).isLocked).toBe(true);
  // Smartcar pages permissions 25 at a time; every documented one was granted.
  expect((await ford.permissions()).permissions).toEqual(ALL_PERMISSIONS.slice(0, 25));
  expect((await ford.permissions({ limit: 50 })).permissions).toEqual(ALL_PERMISSIONS);

  // Capabilities follow the powertrain: 501 COMPATIBILITY.
  await expect(leaf.fuel()).rejects.toMatchObject({ statusCode: 501, type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' });
  await expect(ford.battery()).rejects.toMatchObject({ statusCode: 501, type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' });

  const paths = sim.requests().filter((r) => r.vehicleId === fordId).map((r) => `${r.method} ${r.endpoint}`);
  expect(paths).toEqual(['GET /', 'GET /vin', 'GET /fuel', 'GET /engine/oil', 'GET /tires/pressure', 'GET /tires/pressure', 'GET /location', 'GET /security', 'GET /permissions', 'GET /permissions', 'GET /battery']);
});

test('readings move plausibly over time: the odometer never goes back', async () => {
  const access = await connect('driver@example.com');
  const car = new smartcar.Vehicle(sim.user('driver@example.com').vehicles[0]!.id, access.accessToken);
  const a = await car.odometer();
  await new Promise((r) => setTimeout(r, 200));
  const b = await car.odometer();
  expect(b.distance).toBeGreaterThanOrEqual(a.distance);
});

test('commands change the car and answer as Smartcar does', async () => {
  const access = await connect('driver@example.com');
  const car = new smartcar.Vehicle(sim.user('driver@example.com').vehicles[0]!.id, access.accessToken);
  expect(await car.unlock()).toMatchObject({ status: 'success', message: 'Successfully sent request to vehicle' });
  expect((await car.lockStatus()).isLocked).toBe(false);
  await car.lock();
  expect((await car.lockStatus()).isLocked).toBe(true);
  expect(await car.setChargeLimit(0.9)).toMatchObject({ status: 'success' });
  expect((await car.getChargeLimit()).limit).toBe(0.9);
  await expect(car.setChargeLimit(0.2)).rejects.toMatchObject({ statusCode: 400, type: 'VALIDATION', code: 'PARAMETER' });
  await expect(car.stopCharge()).resolves.toMatchObject({ status: 'success' });
  expect((await car.charge()).state).not.toBe('CHARGING');
  expect(sim.requests().filter((r) => r.kind === 'api' && r.method === 'POST').map((r) => r.endpoint)).toEqual(['/security', '/security', '/charge/limit', '/charge/limit', '/charge']);
});

test('batch: parsed by the SDK, one upstream request, a failing item throws on access', async () => {
  const access = await connect('family@example.com', ['read_vehicle_info', 'read_odometer', 'read_fuel', 'read_battery']);
  const fordId = sim.user('family@example.com').vehicles[0]!.id;
  const ford = new smartcar.Vehicle(fordId, access.accessToken, { unitSystem: 'imperial' });
  const res = await ford.batch(['/', '/odometer', '/fuel', '/battery', '/location', '/tires/pressure', '/nope']);
  expect(res.attributes!()).toMatchObject({ make: 'FORD', model: 'F-150', year: 2019 });
  const odo = res.odometer!() as smartcar.WithMeta<{ distance: number }>;
  expect(odo.distance).toBeGreaterThan(3000);
  expect(odo.meta.unitSystem).toBe('imperial');
  expect(odo.meta.dataAge).toBeInstanceOf(Date);
  expect(odo.meta.requestId).toMatch(uuid);
  expect(res.fuel!()).toHaveProperty('amountRemaining');

  // Not capable (EV endpoint on a fuel car); scope not granted; unknown path.
  const thrown = (name: string) => {
    try {
      res[name]!();
    } catch (e) {
      return e as smartcar.SmartcarError;
    }
    throw new Error(`${name} did not throw`);
  };
  expect(thrown('battery')).toMatchObject({ type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE', statusCode: 200 });
  expect(thrown('location')).toMatchObject({ type: 'PERMISSION', statusCode: 200 });
  expect(thrown('tirePressure')).toMatchObject({ type: 'PERMISSION' });
  expect(thrown('nope')).toMatchObject({ type: 'RESOURCE_NOT_FOUND', code: 'PATH' });
  expect(thrown('battery').requestId).toMatch(uuid);

  const batches = sim.requests().filter((r) => r.endpoint === '/batch');
  expect(batches).toHaveLength(1);
  expect(batches[0]!.batchPaths).toEqual(['/', '/odometer', '/fuel', '/battery', '/location', '/tires/pressure', '/nope']);
});

test('scopes are enforced (403 PERMISSION) and a token reaches only its own cars (401 AUTHENTICATION)', async () => {
  const access = await connect('family@example.com', ['read_vehicle_info']);
  const [fordId] = sim.user('family@example.com').vehicles.map((v) => v.id);
  const ford = new smartcar.Vehicle(fordId!, access.accessToken);
  await expect(ford.attributes()).resolves.toHaveProperty('make', 'FORD');
  await expect(ford.odometer()).rejects.toMatchObject({ statusCode: 403, type: 'PERMISSION', resolution: { type: 'REAUTHENTICATE' } });
  await expect(ford.lock()).rejects.toMatchObject({ statusCode: 403, type: 'PERMISSION' });
  // A car of another account is out of reach.
  const stranger = sim.user('driver@example.com').vehicles[0]!.id;
  // Smartcar: 401 AUTHENTICATION, "verify that your access token grants you access to the correct vehicle".
  await expect(new smartcar.Vehicle(stranger, access.accessToken).attributes()).rejects.toMatchObject({ statusCode: 401, type: 'AUTHENTICATION' });
  // No token, or a made-up one: 401.
  await expect(new smartcar.Vehicle(fordId!, 'not-a-token').attributes()).rejects.toMatchObject({ statusCode: 401, type: 'AUTHENTICATION' });
});

test('disconnect: DELETE /application removes the car from this token (and the account list)', async () => {
  const access = await connect('family@example.com');
  const [fordId, leafId, priusId] = sim.user('family@example.com').vehicles.map((v) => v.id);
  const leaf = new smartcar.Vehicle(leafId!, access.accessToken);
  expect(await leaf.disconnect()).toMatchObject({ status: 'success' });
  await expect(leaf.attributes()).rejects.toMatchObject({ statusCode: 401, type: 'AUTHENTICATION' });
  expect((await smartcar.getVehicles(access.accessToken)).vehicles).toEqual([fordId, priusId]);
  await expect(new smartcar.Vehicle(fordId!, access.accessToken).attributes()).resolves.toHaveProperty('make', 'FORD');
});

test('test vehicles fail deterministically: asleep 409, rate-limited 429 with retry-after, OEM down 502, not capable 501', async () => {
  const access = await connect('mixed@example.com');
  const [healthy, asleep, limited, down, incapable] = sim.user('mixed@example.com').vehicles.map((v) => new smartcar.Vehicle(v.id, access.accessToken));
  await expect(healthy!.odometer()).resolves.toHaveProperty('distance');
  await expect(asleep!.odometer()).rejects.toMatchObject({ statusCode: 409, type: 'VEHICLE_STATE', code: 'ASLEEP', resolution: { type: 'RETRY_LATER' } });
  await expect(limited!.odometer()).rejects.toMatchObject({ statusCode: 429, type: 'RATE_LIMIT', code: 'VEHICLE', retryAfter: '60' });
  await expect(down!.odometer()).rejects.toMatchObject({ statusCode: 502, type: 'UPSTREAM', code: 'UNKNOWN_ISSUE' });
  await expect(incapable!.odometer()).rejects.toMatchObject({ statusCode: 501, type: 'COMPATIBILITY', code: 'SMARTCAR_NOT_CAPABLE' });
  // Attributes come from Smartcar's records, so they work even for these cars.
  for (const car of [asleep, limited, down, incapable]) await expect(car!.attributes()).resolves.toHaveProperty('year');
  // Inside a batch: the item fails, with retry-after from the item's headers.
  const batch = await limited!.batch(['/', '/odometer']);
  expect(batch.attributes!()).toHaveProperty('make');
  let err: unknown;
  try {
    batch.odometer!();
  } catch (e) {
    err = e;
  }
  expect(err).toMatchObject({ type: 'RATE_LIMIT', code: 'VEHICLE', retryAfter: '60' });
});

test('batch error items without headers reproduce the SDK crash real Smartcar can cause', async () => {
  const access = await connect('asleep@example.com');
  const car = new smartcar.Vehicle(sim.user('asleep@example.com').vehicles[0]!.id, access.accessToken);
  sim.configure({ batchErrorHeaders: false });
  try {
    const res = await car.batch(['/odometer']);
    // (jest runs tests in another realm, so compare the name rather than the class)
    expect(() => res.odometer!()).toThrow(expect.objectContaining({ name: 'TypeError' }));
  } finally {
    sim.configure({ batchErrorHeaders: true });
  }
});

test('API outage injection: 500 JSON, then recovery; latency applies', async () => {
  const access = await connect('driver@example.com');
  const car = new smartcar.Vehicle(sim.user('driver@example.com').vehicles[0]!.id, access.accessToken);
  sim.addFault({ target: 'api', mode: 'error', status: 500, count: 1 });
  await expect(car.odometer()).rejects.toMatchObject({ statusCode: 500, type: 'SERVER', code: 'INTERNAL' });
  await expect(car.odometer()).resolves.toHaveProperty('distance');
  sim.configure({ latencyMs: 150 });
  try {
    const t = Date.now();
    await car.odometer();
    expect(Date.now() - t).toBeGreaterThanOrEqual(145);
  } finally {
    sim.configure({ latencyMs: 0 });
  }
});

test('unknown paths and versions answer Smartcar 404 bodies', async () => {
  const access = await connect('driver@example.com');
  const id = sim.user('driver@example.com').vehicles[0]!.id;
  const v1 = await fetch(`${sim.origin}/v1.0/vehicles/${id}`, { headers: { authorization: `Bearer ${access.accessToken}` } });
  expect(v1.status).toBe(404);
  expect(await v1.json()).toMatchObject({ type: 'RESOURCE_NOT_FOUND', code: 'VERSION', statusCode: 404 });
  const nope = await fetch(`${sim.origin}/v2.0/vehicles/${id}/teleport`, { headers: { authorization: `Bearer ${access.accessToken}` } });
  expect(nope.status).toBe(404);
  expect(nope.headers.get('sc-request-id')).toMatch(uuid);
  expect(await nope.json()).toMatchObject({ type: 'RESOURCE_NOT_FOUND', code: 'PATH' });
});

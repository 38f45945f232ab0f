import { hashSessionToken } from '../../../src/session/session.token';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * The whole vehicle: signals through one DataLoader per request, counted at the simulator; the
 * billing-aware cache; permissions; partial failures; commands; disconnect and sign-out.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.stop());
afterEach(() => stack.sim.clearFaults());

const SIGNAL_FIELDS = [
  'odometer { distance dataAge fetchedAt }',
  'location { latitude longitude }',
  'battery { percentRemaining range }',
  'fuel { percentRemaining range amountRemaining }',
  'charge { isPluggedIn state }',
  'engineOil { lifeRemaining }',
  'tirePressure { frontLeft frontRight backLeft backRight }',
  'lockStatus { isLocked }',
  'vin',
];

/** Upstream vehicle-data requests (anything that reads or commands a vehicle). */
const vehicleRequests = () => stack.sim.requests().filter((r) => r.kind === 'api' && r.vehicleId !== undefined);

async function connect(client: Client, username: string, scope?: string[]): Promise<string[]> {
  const url = (await client.gql<{ connectUrl: string }>('query($scope: [String!]) { connectUrl(scope: $scope) }', { scope })).data!.connectUrl;
  const back = await completeConsent(url, { username });
  const res = await client.gql<{ exchangeCode: { vehicles: { id: string }[] } }>(
    'mutation($code: String!, $state: String) { exchangeCode(code: $code, state: $state) { vehicles { id } } }',
    { code: back.searchParams.get('code'), state: back.searchParams.get('state') },
  );
  expect(res.errors).toBeUndefined();
  return res.data!.exchangeCode.vehicles.map((v) => v.id);
}

describe('N vehicles × M signals cost N upstream requests', () => {
  const client = new Client('');
  let ids: string[] = [];
  beforeAll(async () => {
    Object.assign(client, new Client(stack.url));
    ids = await connect(client, `nm-${Date.now()}+5+phev@example.com`);
    expect(ids).toHaveLength(5);
    await client.gql('{ vehicles { make } }'); // attributes are cached for good from here on
  });

  /** M signal fields on each of the first N vehicles, with aliases and a fragment that repeat paths. */
  function query(n: number, m: number, maxAge?: number): string {
    const arg = maxAge === undefined ? '' : `(maxAge: ${maxAge})`;
    const fields = SIGNAL_FIELDS.slice(0, m).map((f) => (f === 'vin' ? f : f.replace(/^(\w+)/, `$1${arg}`)));
    const vehicles = ids.slice(0, n).map(
      (id, i) => `v${i}: vehicle(id: "${id}") { make ${fields.join(' ')} again: ${fields[0]} ...F }`,
    );
    return `{ ${vehicles.join(' ')} } fragment F on Vehicle { model ${fields[fields.length - 1]} }`;
  }

  test.each([
    [1, 1],
    [1, 9],
    [3, 4],
    [5, 5],
    [5, 9],
  ])('N=%i, M=%i', async (n, m) => {
    stack.sim.resetRequests();
    const res = await client.gql<Record<string, Record<string, unknown>>>(query(n, m));
    expect(res.errors).toBeUndefined();
    expect(Object.keys(res.data!)).toHaveLength(n);
    const calls = vehicleRequests();
    expect(calls).toHaveLength(n);
    expect(new Set(calls.map((c) => c.vehicleId))).toEqual(new Set(ids.slice(0, n)));
    // One path: a plain GET; several: one POST /batch with each path once.
    for (const c of calls) {
      if (m === 1) expect(`${c.method} ${c.endpoint}`).toBe('GET /odometer');
      else expect(c.batchPaths).toEqual([...new Set(c.batchPaths)]);
    }
  });

  test('with a warm cache and a large enough maxAge: zero upstream requests', async () => {
    await client.gql(query(5, 9));
    stack.sim.resetRequests();
    const res = await client.gql<Record<string, { odometer: { distance: number; fetchedAt: string } }>>(query(5, 9, 3600));
    expect(res.errors).toBeUndefined();
    expect(vehicleRequests()).toEqual([]);
    expect(res.data!.v0!.odometer.distance).toBeGreaterThan(0);
    // maxAge 0 asks Smartcar again, once per vehicle.
    await client.gql(query(5, 9, 0));
    expect(vehicleRequests()).toHaveLength(5);
  });

  test('one list query over every vehicle is one request per vehicle too', async () => {
    stack.sim.resetRequests();
    const res = await client.gql<{ vehicles: { odometer: { distance: number } }[] }>(`{ vehicles { id make ${SIGNAL_FIELDS.join(' ')} } }`);
    expect(res.errors).toBeUndefined();
    expect(res.data!.vehicles).toHaveLength(5);
    expect(vehicleRequests()).toHaveLength(5);
  });
});

test('signals carry Smartcar field names, units and metadata; VIN is cached for good', async () => {
  const client = new Client(stack.url);
  const [leaf] = await connect(client, 'family@example.com').then((ids) => [ids[1]!]);
  stack.sim.resetRequests();
  const res = await client.gql<{ vehicle: Record<string, Record<string, unknown> & { dataAge: string; fetchedAt: string }> }>(
    `{ vehicle(id: "${leaf}") { vin odometer { distance dataAge fetchedAt } battery { percentRemaining range } charge { isPluggedIn state } permissions } }`,
  );
  expect(res.errors).toBeUndefined();
  const v = res.data!.vehicle;
  expect(v.vin).toBe(stack.sim.user('family@example.com').vehicles[1]!.vin);
  expect(Date.parse(v.odometer!.fetchedAt) - Date.parse(v.odometer!.dataAge)).toBeLessThanOrEqual(60_000);
  expect(v.battery!.percentRemaining).toBeGreaterThanOrEqual(0);
  expect(v.battery!.percentRemaining).toBeLessThanOrEqual(1);
  expect(['CHARGING', 'FULLY_CHARGED', 'NOT_CHARGING']).toContain(v.charge!.state);
  expect(v.permissions).toContain('read_odometer');
  stack.sim.resetRequests();
  await client.gql(`{ vehicle(id: "${leaf}") { vin } }`);
  expect(vehicleRequests()).toEqual([]);

  const imperial = await stack.another({ SMARTCAR_UNIT_SYSTEM: 'imperial' });
  const miles = new Client(imperial.url);
  miles.cookies = client.cookies;
  const km = (await client.gql<{ vehicle: { odometer: { distance: number } } }>(`{ vehicle(id: "${leaf}") { odometer { distance } } }`)).data!.vehicle.odometer.distance;
  const mi = (await miles.gql<{ vehicle: { odometer: { distance: number } } }>(`{ vehicle(id: "${leaf}") { odometer(maxAge: 3600) { distance } } }`)).data!.vehicle.odometer.distance;
  expect(mi).toBeCloseTo(km / 1.609344, 0);
});

/** The Redis commands (round trips) the gateway sends under this stack's prefix while `run` runs, once quiet. */
async function redisCommands(run: () => Promise<unknown>): Promise<string[]> {
  const monitor = await stack.redis.monitor();
  const seen: string[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    // Commands a Lua script runs are reported too, with source "lua": one EVAL is one round trip.
    if (source !== 'lua' && args.some((a) => a.startsWith(stack.prefix))) seen.push(args[0]!.toUpperCase());
  });
  await run();
  await new Promise((r) => setTimeout(r, 150)); // writes that do not hold up the answer
  monitor.disconnect();
  return seen;
}

test('make, model and year cost Smartcar one request per connection, then nothing but the session read', async () => {
  const client = new Client(stack.url);
  const username = `attrs-${Date.now()}+2+phev@example.com`;
  const [id] = await connect(client, username);
  const car = stack.sim.user(username).vehicles[0]!;
  stack.sim.resetRequests();
  const first = await client.gql<{ vehicle: { id: string; make: string; model: string; year: number } }>('{ vehicle { id make model year } }');
  expect(first.errors).toBeUndefined();
  expect(first.data!.vehicle).toEqual({ id, make: car.make, model: car.model, year: car.year });
  expect(vehicleRequests().map((r) => `${r.method} ${r.endpoint}`)).toEqual(['GET /']);

  // From now on: the session's HGETALL and nothing else, not even the readings cache.
  stack.sim.resetRequests();
  const hash = hashSessionToken(client.cookies.get('sid')!);
  const [connectionKey] = await stack.redis.keys(`${stack.prefix}sess:{${hash}}:conn:*`);
  const readings = (await stack.redis.hkeys(connectionKey!)).filter((f) => f.startsWith('r2:'));
  expect(readings.length).toBeGreaterThan(0);
  await stack.redis.hdel(connectionKey!, ...readings); // gone from Redis: only the process can answer
  let again: Awaited<ReturnType<typeof client.gql>> | undefined;
  expect(await redisCommands(async () => (again = await client.gql('{ vehicle { id make model year } }')))).toEqual(['HGETALL']);
  expect(again!.data).toEqual(first.data);
  expect(vehicleRequests()).toEqual([]);
  const rest = await fetch(`${stack.url}/vehicle`, { headers: { cookie: `sid=${client.cookies.get('sid')}` } });
  expect(await rest.json()).toEqual(first.data!.vehicle);
  expect(vehicleRequests()).toEqual([]);

  // A fresh reading (maxAge 0) skips the readings cache: the session, the token pair, then the
  // write of what Smartcar answered.
  let fresh: Awaited<ReturnType<typeof client.gql>> | undefined;
  const commands = await redisCommands(async () => (fresh = await client.gql('{ vehicle { make odometer(maxAge: 0) { distance } } }')));
  expect(fresh!.errors).toBeUndefined();
  expect(commands).toEqual(['HGETALL', 'HMGET', 'EVAL']);
  expect(vehicleRequests().map((r) => `${r.method} ${r.endpoint}`)).toEqual(['GET /odometer']);

  // A disconnect is seen at once, whatever this process holds.
  await client.gql('mutation($id: ID!) { disconnectVehicle(id: $id) }', { id });
  expect((await client.gql(`{ vehicle(id: "${id}") { make } }`)).errors?.[0]?.extensions.code).toBe('NOT_FOUND');
});

test('the permanent readings held in process are each vehicle\'s own: three cars of one connection', async () => {
  const client = new Client(stack.url);
  const username = `perm-${Date.now()}+3@example.com`;
  const ids = await connect(client, username);
  const cars = stack.sim.user(username).vehicles;
  const expected = cars.map((c, i) => ({ id: ids[i], vin: c.vin, make: c.make, model: c.model, year: c.year }));
  expect(new Set(expected.map((c) => c.vin)).size).toBe(3);
  const query = '{ vehicles { id vin make model year } }';
  expect((await client.gql<{ vehicles: unknown[] }>(query)).data!.vehicles).toEqual(expected);

  // Gone from Redis: the second answer comes from this process alone, still one car's values each.
  const hash = hashSessionToken(client.cookies.get('sid')!);
  const [connectionKey] = await stack.redis.keys(`${stack.prefix}sess:{${hash}}:conn:*`);
  const readings = (await stack.redis.hkeys(connectionKey!)).filter((f) => f.startsWith('r2:'));
  expect(readings.length).toBeGreaterThanOrEqual(6);
  await stack.redis.hdel(connectionKey!, ...readings);
  stack.sim.resetRequests();
  expect((await client.gql<{ vehicles: unknown[] }>(query)).data!.vehicles).toEqual(expected);
  expect(vehicleRequests()).toEqual([]);
});

test('partial results: failing signals are null with their error at their path; the rest resolves', async () => {
  const client = new Client(stack.url);
  const ids = await connect(client, `partial-${Date.now()}+mixed@example.com`);
  stack.sim.resetRequests();
  const res = await client.gql<{ vehicles: { id: string; make: string; odometer: { distance: number } | null }[] }>('{ vehicles { id make odometer { distance } } }');
  expect(res.data!.vehicles.map((v) => v.id)).toEqual(ids);
  expect(res.data!.vehicles.every((v) => typeof v.make === 'string')).toBe(true);
  expect(res.data!.vehicles[0]!.odometer!.distance).toBeGreaterThan(0);
  expect(res.data!.vehicles.slice(1).map((v) => v.odometer)).toEqual([null, null, null, null]);
  const byPath = Object.fromEntries(res.errors!.map((e) => [e.path!.join('.'), e.extensions]));
  expect(byPath['vehicles.1.odometer']).toMatchObject({ code: 'VEHICLE_STATE', smartcar: { type: 'VEHICLE_STATE', code: 'ASLEEP', resolution: 'RETRY_LATER' } });
  expect(byPath['vehicles.2.odometer']).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 60, smartcar: { type: 'RATE_LIMIT', code: 'VEHICLE', retryAfter: 60 } });
  expect(byPath['vehicles.3.odometer']).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', smartcar: { type: 'UPSTREAM' } });
  expect(byPath['vehicles.4.odometer']).toMatchObject({ code: 'COMPATIBILITY', smartcar: { type: 'COMPATIBILITY', code: 'SMARTCAR_NOT_CAPABLE' } });
  expect(res.errors).toHaveLength(4);
  expect(JSON.stringify(res.errors)).not.toMatch(/stack|description|docURL/);

  // Failures are never cached: asking again (maxAge 1 h) reads only the four failing cars again.
  stack.sim.resetRequests();
  const again = await client.gql('{ vehicles { odometer(maxAge: 3600) { distance } } }');
  expect(again.errors).toHaveLength(4);
  expect(vehicleRequests().map((r) => r.vehicleId)).toEqual(ids.slice(1));

  // Inside a batch: each item fails on its own.
  stack.sim.resetRequests();
  const batch = await client.gql(`{ vehicle(id: "${ids[1]}") { make odometer { distance } fuel { range } } }`);
  expect(batch.errors!.map((e) => `${e.path!.join('.')}:${e.extensions.code}`).sort()).toEqual(['vehicle.fuel:VEHICLE_STATE', 'vehicle.odometer:VEHICLE_STATE']);
  expect(vehicleRequests().map((r) => r.endpoint)).toEqual(['/batch']);
});

test('a signal whose permission was not granted fails with PERMISSION_DENIED and costs nothing upstream', async () => {
  const client = new Client(stack.url);
  await connect(client, `perm-${Date.now()}@example.com`, ['required:read_vehicle_info', 'read_odometer']);
  stack.sim.resetRequests();
  const res = await client.gql<{ vehicle: { odometer: { distance: number }; location: null; permissions: string[] } }>(
    '{ vehicle { make odometer { distance } location { latitude } permissions } }',
  );
  expect(res.data!.vehicle.odometer.distance).toBeGreaterThan(0);
  expect(res.data!.vehicle.location).toBeNull();
  expect(res.data!.vehicle.permissions.sort()).toEqual(['read_odometer', 'read_vehicle_info']);
  expect(res.errors!.map((e) => [e.path!.join('.'), e.extensions.code, e.extensions.scope])).toEqual([['vehicle.location', 'PERMISSION_DENIED', 'read_location']]);
  expect(vehicleRequests().map((r) => r.batchPaths ?? r.endpoint)).toEqual([['/', '/odometer']]);
  stack.sim.resetRequests();
  const lock = await client.gql('mutation($id: ID!) { lockVehicle(id: $id) { status } }', { id: (await client.gql<{ vehicle: { id: string } }>('{ vehicle { id } }')).data!.vehicle.id });
  expect(lock.errors?.map((e) => e.extensions.code)).toEqual(['PERMISSION_DENIED']);
  expect(vehicleRequests()).toEqual([]);
});

test('maxAge is validated', async () => {
  const client = new Client(stack.url);
  await connect(client, 'driver@example.com');
  const res = await client.gql('{ vehicle { make odometer(maxAge: -1) { distance } } }');
  expect(res.errors?.map((e) => [e.path!.join('.'), e.extensions.code])).toEqual([['vehicle.odometer', 'BAD_USER_INPUT']]);
});

describe('commands', () => {
  test('lock and unlock: Smartcar status, and the cached lock status is invalidated', async () => {
    const client = new Client(stack.url);
    const [id] = await connect(client, `lock-${Date.now()}@example.com`);
    const status = async () => (await client.gql<{ vehicle: { lockStatus: { isLocked: boolean } } }>('{ vehicle { lockStatus(maxAge: 3600) { isLocked } } }')).data!.vehicle.lockStatus.isLocked;
    expect(await status()).toBe(true);
    stack.sim.resetRequests();
    const res = await client.gql('mutation($id: ID!) { unlockVehicle(id: $id) { status message } }', { id });
    expect(res.data).toEqual({ unlockVehicle: { status: 'success', message: 'Successfully sent request to vehicle' } });
    expect(await status()).toBe(false); // not the cached "locked"
    expect(vehicleRequests().map((r) => `${r.method} ${r.endpoint}`)).toEqual(['POST /security', 'GET /security']);
    await client.gql('mutation($id: ID!) { lockVehicle(id: $id) { status } }', { id });
    expect(await status()).toBe(true);
  });

  test('a refused command is not retried: asleep, not capable, and a dropped connection each cost one POST', async () => {
    const client = new Client(stack.url);
    const ids = await connect(client, `cmd-${Date.now()}+mixed@example.com`);
    const fuelCar = await connect(client, `cmd-fuel-${Date.now()}+fuel@example.com`);
    stack.sim.resetRequests();
    const asleep = await client.gql('mutation($id: ID!) { lockVehicle(id: $id) { status } }', { id: ids[1] });
    expect(asleep.errors?.map((e) => e.extensions.code)).toEqual(['VEHICLE_STATE']);
    const incapable = await client.gql('mutation($id: ID!) { startCharge(id: $id) { status } }', { id: fuelCar[0] });
    expect(incapable.errors?.map((e) => e.extensions.code)).toEqual(['COMPATIBILITY']);
    stack.sim.addFault({ target: 'api', mode: 'reset', count: 1 });
    const dropped = await client.gql('mutation($id: ID!) { lockVehicle(id: $id) { status } }', { id: ids[0] });
    expect(dropped.errors?.map((e) => e.extensions.code)).toEqual(['UPSTREAM_UNAVAILABLE']);
    expect(vehicleRequests().map((r) => `${r.method} ${r.endpoint}:${r.status}`)).toEqual(['POST /security:409', 'POST /charge:501', 'POST /security:0']);
  });

  test('a command Smartcar refused with 401 (never delivered) is retried once after a refresh', async () => {
    const client = new Client(stack.url);
    const username = `cmd401-${Date.now()}+ev@example.com`; // an EV: it can stop charging
    const [id] = await connect(client, username);
    stack.sim.expireAccessTokens(username);
    stack.sim.resetRequests();
    const res = await client.gql('mutation($id: ID!) { stopCharge(id: $id) { status } }', { id });
    expect(res.errors).toBeUndefined();
    expect(stack.sim.requests().map((r) => `${r.kind}:${r.endpoint ?? r.grantType}:${r.status}`)).toEqual(['api:/charge:401', 'token:refresh_token:200', 'api:/charge:200']);
  });

  test('a vehicle of another session is NOT_FOUND', async () => {
    const owner = new Client(stack.url);
    const [id] = await connect(owner, 'driver@example.com');
    const other = new Client(stack.url);
    await connect(other, 'family@example.com');
    const res = await other.gql('mutation($id: ID!) { unlockVehicle(id: $id) { status } }', { id });
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['NOT_FOUND']);
  });
});

test('disconnectVehicle revokes at Smartcar and removes the vehicle; the last one takes the connection with it', async () => {
  const client = new Client(stack.url);
  const username = `disc-${Date.now()}+2@example.com`;
  const [a, b] = await connect(client, username);
  const hash = hashSessionToken(client.cookies.get('sid')!);
  const connections = async () => (await stack.redis.keys(`${stack.prefix}sess:{${hash}}:conn:*`)).length;
  expect(await connections()).toBe(1);
  stack.sim.resetRequests();
  expect((await client.gql('mutation($id: ID!) { disconnectVehicle(id: $id) }', { id: a })).data).toEqual({ disconnectVehicle: true });
  expect(vehicleRequests().map((r) => `${r.method} ${r.endpoint}:${r.status}:${r.vehicleId === a}`)).toEqual(['DELETE /application:200:true']);
  expect((await client.gql('{ session { vehicleIds } }')).data).toEqual({ session: { vehicleIds: [b] } });
  expect((await client.gql(`{ vehicle(id: "${a}") { make } }`)).errors?.[0]?.extensions.code).toBe('NOT_FOUND');
  // At Smartcar, this application's token no longer reaches the car.
  expect(stack.sim.user(username).vehicles.map((v) => v.id)).toContain(a);
  expect(await connections()).toBe(1);
  await client.gql('mutation($id: ID!) { disconnectVehicle(id: $id) }', { id: b });
  expect(await connections()).toBe(0);
  expect((await client.gql('{ session { connected vehicleIds } }')).data).toEqual({ session: { connected: false, vehicleIds: [] } });
});

test('signOut leaves nothing of the session in Redis and clears the cookie', async () => {
  const client = new Client(stack.url);
  await connect(client, 'family@example.com');
  await connect(client, `signout-${Date.now()}@example.com`);
  await client.gql('{ connectUrl }'); // a pending state too
  await client.gql('{ vehicles { make odometer { distance } } }'); // cached readings too
  const hash = hashSessionToken(client.cookies.get('sid')!);
  expect((await stack.redis.keys(`${stack.prefix}*${hash}*`)).length).toBeGreaterThanOrEqual(4);
  const res = await client.gql('mutation { signOut }');
  expect(res.data).toEqual({ signOut: true });
  expect(res.headers.get('set-cookie')).toMatch(/^sid=; Max-Age=0; Path=\/; HttpOnly; SameSite=Lax$/);
  expect(await stack.redis.keys(`${stack.prefix}*${hash}*`)).toEqual([]);
  const after = new Client(stack.url);
  after.bearer = null;
  expect((await client.gql('{ session { connected } }')).errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  expect((await after.gql('mutation { signOut }')).errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
});

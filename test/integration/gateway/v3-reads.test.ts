import { randomBytes } from 'node:crypto';
import type { RunningApp } from '../../../src/app';
import { connectCar } from '../../support/car';
import { Client, startStack, type Stack } from '../../support/gateway';
import { connectV3Car, v3Env } from '../../support/v3';

/**
 * Reads in v3 mode: one upstream request per vehicle per GraphQL request whatever the fields, the
 * same car giving the same numbers through v2 and v3, a session holding both served each by its own
 * API, and a signal that failed or has no value yet being null with its error at its path.
 */

let stack: Stack;
/** A second gateway in v2 mode on the same simulator, Redis prefix and key (a gateway before the switch). */
let v2: RunningApp;

beforeAll(async () => {
  stack = await startStack({ env: v3Env });
  v2 = await stack.another({ ...stack.sim.env, SMARTCAR_API_VERSION: '2' });
}, 30_000);
afterAll(() => stack?.stop());

const unique = (tag: string) => `v3read-${randomBytes(4).toString('hex')}${tag}@example.com`;
const lastSeq = () => stack.sim.requests().at(-1)?.seq ?? 0;
const vehicleCalls = (since: number) => stack.sim.requests(since).filter((r) => r.kind === 'api' && r.vehicleId !== undefined);

const DASHBOARD = `{ vehicles { id make model year vin
  odometer(maxAge: 0) { distance dataAge fetchedAt }
  location(maxAge: 0) { latitude longitude }
  battery(maxAge: 0) { percentRemaining range }
  fuel(maxAge: 0) { percentRemaining range amountRemaining }
  charge(maxAge: 0) { isPluggedIn state }
  engineOil(maxAge: 0) { lifeRemaining }
  tirePressure(maxAge: 0) { frontLeft frontRight backLeft backRight }
  lockStatus(maxAge: 0) { isLocked } } }`;

type Dashboard = { vehicles: Record<string, unknown>[] };

test('N vehicles × M signals cost N upstream requests, each every page of one car', async () => {
  const username = unique('+4');
  const client = new Client(stack.url);
  const ids = await connectV3Car(client, username);
  expect(ids).toHaveLength(4);
  const since = lastSeq();
  const res = await client.gql<Dashboard>(DASHBOARD);
  expect(res.data!.vehicles).toHaveLength(4);
  const calls = vehicleCalls(since);
  expect(calls.map((r) => `${r.method} ${r.endpoint}`)).toEqual(ids.map(() => 'GET /signals'));
  expect(calls.map((r) => r.vehicleId).sort()).toEqual([...ids].sort());
  expect(calls.every((r) => r.query.pageSize === '100' && r.query.page === '1')).toBe(true);

  // Readings every powertrain has, cached (maxAge 60): no request at all (failures are never cached).
  const again = lastSeq();
  const cached = await client.gql<Dashboard>('{ vehicles { vin odometer(maxAge: 60) { distance } location(maxAge: 60) { latitude } tirePressure(maxAge: 60) { frontLeft } lockStatus(maxAge: 60) { isLocked } } }');
  expect(cached.errors).toBeUndefined();
  expect(vehicleCalls(again)).toEqual([]);
});

/** Numbers equal within what v3's rounding allows (whole percents, bar to 3 decimals, the clock moving). */
function sameNumbers(v3: unknown, v2Value: unknown, path: string): void {
  if (typeof v2Value === 'number' && typeof v3 === 'number') {
    const tolerance = Math.max(0.006, Math.abs(v2Value) * 1e-5);
    if (Math.abs(v3 - v2Value) > tolerance) throw new Error(`${path}: v3 ${v3} vs v2 ${v2Value}`);
    return;
  }
  if (v2Value && typeof v2Value === 'object' && v3 && typeof v3 === 'object') {
    for (const k of Object.keys(v2Value)) sameNumbers((v3 as Record<string, unknown>)[k], (v2Value as Record<string, unknown>)[k], `${path}.${k}`);
    return;
  }
  expect({ path, value: v3 }).toEqual({ path, value: v2Value });
}

test('the same car gives the same numbers through v2 and v3, and fails the same signals', async () => {
  const username = unique('+3');
  const viaV3 = new Client(stack.url);
  await connectV3Car(viaV3, username);
  const viaV2 = new Client(v2.url);
  await connectCar(stack.sim, viaV2, username);

  const [a, b] = await Promise.all([viaV3.gql<Dashboard>(DASHBOARD), viaV2.gql<Dashboard>(DASHBOARD)]);
  const strip = (d: Dashboard) => d.vehicles.map((v) => ({ ...v, odometer: v.odometer && { ...(v.odometer as object), dataAge: null, fetchedAt: null } }));
  expect(a.data!.vehicles.map((v) => v.id)).toEqual(b.data!.vehicles.map((v) => v.id));
  sameNumbers(strip(a.data!), strip(b.data!), 'vehicles');
  // The fuel car has no battery and the EV no fuel: the same nulls, with the same codes at the same paths.
  const failures = (r: typeof a) => (r.errors ?? []).map((e) => `${e.path!.join('.')} ${e.extensions.code}`).sort();
  expect(failures(a)).toEqual(failures(b));
  expect(failures(a).length).toBeGreaterThan(0);
  // dataAge and fetchedAt come from v3's oemUpdatedAt and retrievedAt.
  const odometer = a.data!.vehicles[0]!.odometer as { dataAge: string; fetchedAt: string };
  expect(Date.parse(odometer.fetchedAt)).toBeGreaterThan(Date.now() - 60_000);
  expect(Date.parse(odometer.dataAge)).toBeLessThanOrEqual(Date.parse(odometer.fetchedAt));
});

test('a session holding a v2 and a v3 connection serves each through its own API', async () => {
  const client = new Client(v2.url);
  const [v2Car] = await connectCar(stack.sim, client, unique('')); // connected before the switch to v3
  const same = new Client(stack.url);
  same.cookies = client.cookies;
  const [v3Car] = await connectV3Car(same, unique(''));
  const since = lastSeq();
  const res = await same.gql<{ vehicles: { id: string; odometer: { distance: number } }[] }>('{ vehicles { id odometer(maxAge: 0) { distance } } }');
  expect(res.errors).toBeUndefined();
  expect(res.data!.vehicles.map((v) => v.id)).toEqual([v2Car, v3Car]);
  expect(vehicleCalls(since).map((r) => `${r.vehicleId} ${r.path.startsWith('/v3/') ? 'v3' : 'v2'} ${r.endpoint}`).sort()).toEqual(
    [`${v2Car} v2 /odometer`, `${v3Car} v3 /signals`].sort(),
  );
  // Commands too.
  const cmd = lastSeq();
  for (const id of [v2Car, v3Car]) {
    const r = await same.gql<{ lockVehicle: { status: string } }>('mutation($id: ID!) { lockVehicle(id: $id) { status } }', { id });
    expect(r.data!.lockVehicle.status).toBe('success');
  }
  expect(vehicleCalls(cmd).map((r) => `${r.method} ${r.path.replace(/\/vehicles\/[^/]+/, '/vehicles/:id')}`)).toEqual([
    'POST /v2.0/vehicles/:id/security',
    'POST /v3/vehicles/:id/commands/security/lock',
  ]);
});

test('a signal with ERROR status, or with no value yet, is null with its error at its path; the rest resolves', async () => {
  const username = unique('+ev');
  const client = new Client(stack.url);
  const [id] = await connectV3Car(client, username);
  stack.sim.setUnreported(id!, ['odometer-traveleddistance']);
  try {
    const res = await client.gql<{ vehicle: { make: string; odometer: unknown; fuel: unknown; battery: { percentRemaining: number } } }>(
      '{ vehicle { make odometer(maxAge: 0) { distance } fuel(maxAge: 0) { percentRemaining } battery(maxAge: 0) { percentRemaining } } }',
    );
    expect(res.data!.vehicle).toEqual({ make: stack.sim.user(username).vehicles[0]!.make, odometer: null, fuel: null, battery: { percentRemaining: expect.any(Number) } });
    const byPath = Object.fromEntries(res.errors!.map((e) => [e.path!.join('.'), e.extensions]));
    expect(Object.keys(byPath).sort()).toEqual(['vehicle.fuel', 'vehicle.odometer']);
    expect(byPath['vehicle.fuel']).toMatchObject({ code: 'COMPATIBILITY', smartcar: { type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' } });
    expect(byPath['vehicle.odometer']!.code).toBe('UPSTREAM_UNAVAILABLE');

    // Nothing reported at all: an empty list, every signal null with its error.
    stack.sim.setUnreported(id!, 'all');
    const none = await client.gql<{ vehicle: { lockStatus: unknown } }>('{ vehicle { lockStatus(maxAge: 0) { isLocked } } }');
    expect(none.data!.vehicle.lockStatus).toBeNull();
    expect(none.errors!.map((e) => [e.path!.join('.'), e.extensions.code])).toEqual([['vehicle.lockStatus', 'UPSTREAM_UNAVAILABLE']]);
  } finally {
    stack.sim.setUnreported(id!, null);
  }
});

import { randomBytes } from 'node:crypto';
import { Client, startStack, type Stack } from '../../support/gateway';
import { appToken, v3Client, type V3Connection, type V3Page } from '../simulator/v3-support';
import { connectV3Car, v3Env } from '../../support/v3';

/**
 * v3 commands (a long-running one answers PENDING) and v3's failures in the public vocabulary, each
 * with what Smartcar sent in `extensions.smartcar`.
 */

let stack: Stack;
let client: Client;
let ids: string[];
const username = `v3err-${randomBytes(4).toString('hex')}+2+ev@example.com`;

beforeAll(async () => {
  stack = await startStack({ env: v3Env });
  client = new Client(stack.url);
  ids = await connectV3Car(client, username);
}, 30_000);
afterAll(() => stack?.stop());
afterEach(() => {
  stack.sim.clearFaults();
  stack.sim.configure({ commandDurationMs: 0 });
});

const lastSeq = () => stack.sim.requests().at(-1)?.seq ?? 0;
const tokenRequests = (since: number) => stack.sim.requests(since).filter((r) => r.kind === 'token');
const ODOMETER = 'query($id: ID) { vehicle(id: $id) { make odometer(maxAge: 0) { distance } } }';

async function odometerError(id = ids[0]!, query = ODOMETER) {
  const res = await client.gql<{ vehicle: { odometer: unknown } }>(query, { id });
  expect(res.data!.vehicle.odometer).toBeNull();
  expect(res.errors).toHaveLength(1);
  expect(res.errors![0]!.path).toEqual(['vehicle', 'odometer']);
  return res.errors![0]!.extensions;
}

test.each([
  [400, 'INTERNAL_SERVER_ERROR', { type: 'VALIDATION', code: null }],
  [403, 'PERMISSION_DENIED', { type: 'PERMISSION', code: null, resolution: 'REAUTHENTICATE' }],
  [404, 'INTERNAL_SERVER_ERROR', { type: 'RESOURCE_NOT_FOUND', code: 'PATH' }],
  [409, 'VEHICLE_STATE', { type: 'VEHICLE_STATE', code: 'ASLEEP', resolution: 'RETRY_LATER' }],
  [429, 'RATE_LIMITED', { type: 'RATE_LIMIT', code: 'VEHICLE', retryAfter: 60 }],
  [430, 'BILLING', { type: 'BILLING', code: 'VEHICLE_REQUEST_LIMIT', resolution: 'CONTACT_SUPPORT' }],
  [500, 'UPSTREAM_UNAVAILABLE', { type: 'SERVER', code: 'INTERNAL' }],
  [501, 'COMPATIBILITY', { type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' }],
  [502, 'UPSTREAM_UNAVAILABLE', { type: 'UPSTREAM', code: 'UNKNOWN_ISSUE' }],
])('a v3 error answer %s is %s with extensions.smartcar', async (status, code, smartcar) => {
  stack.sim.addFault({ target: 'api', mode: 'error', status, count: 1 });
  const ext = await odometerError();
  expect(ext.code).toBe(code);
  expect(ext.smartcar).toMatchObject({ ...smartcar, requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  expect(Object.keys(ext.smartcar as object).sort()).toEqual(['code', 'requestId', 'resolution', 'retryAfter', 'suggestedUserMessage', 'type']);
  if (code === 'RATE_LIMITED') expect(ext.retryAfter).toBe(60);
});

test("a load balancer's HTML page is UPSTREAM_UNAVAILABLE", async () => {
  stack.sim.addFault({ target: 'api', mode: 'html', status: 503, count: 1 });
  expect((await odometerError()).code).toBe('UPSTREAM_UNAVAILABLE');
});

test('a dropped connection is UPSTREAM_UNAVAILABLE; a failing token endpoint too, and a refused client id is ours to fix', async () => {
  stack.sim.addFault({ target: 'api', mode: 'reset', count: 1 });
  const reset = await odometerError();
  expect([reset.code, reset.smartcar]).toEqual(['UPSTREAM_UNAVAILABLE', undefined]);

  // Without a token the connection's whole batch fails (make too): ask for the odometer alone.
  const odometerOnly = 'query($id: ID) { vehicle(id: $id) { odometer(maxAge: 0) { distance } } }';
  stack.sim.expireAppTokens();
  stack.sim.addFault({ target: 'token', mode: 'error', status: 503, count: 1 });
  expect((await odometerError(ids[0], odometerOnly)).code).toBe('UPSTREAM_UNAVAILABLE');
  stack.sim.addFault({ target: 'token', mode: 'error', status: 401, count: 1 });
  expect((await odometerError(ids[0], odometerOnly)).code).toBe('INTERNAL_SERVER_ERROR');
  // The endpoint answers again: the next request fetches a token and reads.
  const ok = await client.gql<{ vehicle: { odometer: { distance: number } } }>(ODOMETER, { id: ids[0] });
  expect(ok.errors).toBeUndefined();
});

test("the test cars' faults, per signal in a 200 or for the whole car", async () => {
  const mixed = new Client(stack.url);
  const cars = await connectV3Car(mixed, `v3err-${randomBytes(4).toString('hex')}+mixed@example.com`);
  const res = await mixed.gql<{ vehicles: { id: string; odometer: { distance: number } | null }[] }>('{ vehicles { id odometer(maxAge: 0) { distance } } }');
  expect(res.data!.vehicles[0]!.odometer!.distance).toBeGreaterThan(0);
  const byIndex = Object.fromEntries(res.errors!.map((e) => [e.path![1], [e.extensions.code, (e.extensions.smartcar as { type: string; code: string }).type, (e.extensions.smartcar as { code: string }).code]]));
  expect(byIndex).toEqual({
    1: ['VEHICLE_STATE', 'VEHICLE_STATE', 'ASLEEP'],
    2: ['RATE_LIMITED', 'RATE_LIMIT', 'VEHICLE'],
    3: ['UPSTREAM_UNAVAILABLE', 'UPSTREAM', 'UNKNOWN_ISSUE'],
    4: ['COMPATIBILITY', 'COMPATIBILITY', 'SMARTCAR_NOT_CAPABLE'],
  });
  expect(cars).toHaveLength(5);
});

test('a 401 renews the application token once, transparently; a second 401 is RECONNECT_REQUIRED, with one renewal', async () => {
  const since = lastSeq();
  stack.sim.expireAppTokens();
  const res = await client.gql<{ vehicle: { odometer: { distance: number } } }>(ODOMETER, { id: ids[0] });
  expect(res.errors).toBeUndefined();
  expect(tokenRequests(since).map((r) => `${r.path} ${r.status}`)).toEqual(['/oauth2/token 200']);

  const again = lastSeq();
  stack.sim.addFault({ target: 'api', mode: 'error', status: 401, count: 2 });
  const ext = await odometerError();
  expect([ext.code, (ext.smartcar as { type: string }).type]).toEqual(['RECONNECT_REQUIRED', 'AUTHENTICATION']);
  expect(tokenRequests(again)).toHaveLength(1);
});

test('a connection ended at Smartcar (not through the gateway) is RECONNECT_REQUIRED, without renewing the token', async () => {
  const other = new Client(stack.url);
  const name = `v3err-${randomBytes(4).toString('hex')}@example.com`;
  const [id] = await connectV3Car(other, name);
  const token = await appToken(stack.sim);
  const sc = v3Client(stack.sim, () => token);
  const list = await sc.get<V3Page<V3Connection>>(`/v3/connections?filter[vehicleId]=${id}`);
  expect(list.body.data).toHaveLength(1);
  expect((await sc.del(`/v3/connections/${list.body.data[0]!.id}`)).status).toBe(204);
  const since = lastSeq();
  const res = await other.gql(ODOMETER, { id });
  expect(res.errors!.map((e) => [e.path!.join('.'), e.extensions.code])).toEqual([['vehicle.odometer', 'RECONNECT_REQUIRED']]);
  expect(tokenRequests(since)).toEqual([]);
});

test('commands through v3: 200 is success, a long-running 202 is PENDING, a car that cannot is COMPATIBILITY', async () => {
  const since = lastSeq();
  const lock = await client.gql<{ lockVehicle: { status: string; message: string | null } }>('mutation($id: ID!) { lockVehicle(id: $id) { status message } }', { id: ids[0] });
  expect(lock.data!.lockVehicle).toEqual({ status: 'success', message: null });

  stack.sim.configure({ commandDurationMs: 5_000 });
  const unlock = await client.gql<{ unlockVehicle: { status: string; message: string } }>('mutation($id: ID!) { unlockVehicle(id: $id) { status message } }', { id: ids[1] });
  expect(unlock.errors).toBeUndefined();
  expect(unlock.data!.unlockVehicle.status).toBe('PENDING');
  expect(unlock.data!.unlockVehicle.message).toMatch(/execution exec_[0-9a-f]+/);
  const calls = stack.sim.requests(since).filter((r) => r.kind === 'api');
  expect(calls.map((r) => `${r.method} ${r.endpoint} ${r.status}`)).toEqual(['POST /commands/security/lock 200', 'POST /commands/security/unlock 202']);
  stack.sim.configure({ commandDurationMs: 0 });

  const fuel = new Client(stack.url);
  const [car] = await connectV3Car(fuel, `v3err-${randomBytes(4).toString('hex')}+fuel@example.com`);
  const charge = await fuel.gql('mutation($id: ID!) { startCharge(id: $id) { status } }', { id: car });
  expect(charge.errors!.map((e) => [e.extensions.code, (e.extensions.smartcar as { code: string }).code])).toEqual([['COMPATIBILITY', 'VEHICLE_NOT_CAPABLE']]);
});

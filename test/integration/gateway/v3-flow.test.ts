import { randomBytes } from 'node:crypto';
import { keys } from '../../../src/redis';
import { hashSessionToken } from '../../../src/session/session.token';
import { TokenCipher } from '../../../src/tokens/token.cipher';
import { createHash } from 'node:crypto';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';
import { COMPLETE, consentV3, v3Env } from '../../support/v3';

/**
 * The gateway in API v3 mode against the simulator's v3: the whole flow in GraphQL and over the
 * tutorial's REST routes, with the exact upstream traffic, and no application token or session
 * token in clear anywhere (Redis, responses, logs).
 */

let stack: Stack;
const responses: string[] = [];

beforeAll(async () => {
  stack = await startStack({ env: v3Env });
}, 30_000);
afterAll(() => stack?.stop());

const unique = (tag: string) => `v3flow-${randomBytes(4).toString('hex')}${tag}@example.com`;
const api = (since = 0) => stack.sim.requests(since).filter((r) => r.kind === 'api' || r.kind === 'token');
const lastSeq = () => stack.sim.requests().at(-1)?.seq ?? 0;

async function gql<T>(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const r = await client.gql<T>(query, variables);
  responses.push(r.raw, JSON.stringify([...r.headers].filter(([k]) => k !== 'set-cookie')));
  return r;
}

test('GraphQL: connectUrl → consent → completeConnect → vehicles → dashboard → command → disconnectVehicle', async () => {
  const username = unique('+2+ev');
  const cars = stack.sim.user(username).vehicles;
  const client = new Client(stack.url);

  const url = new URL((await gql<{ connectUrl: string }>(client, '{ connectUrl }')).data!.connectUrl);
  expect(url.origin + url.pathname).toBe(`${stack.sim.origin}/oauth/authorize`);
  expect(url.searchParams.get('application_id')).toBe(stack.sim.v3.applicationId);
  expect(url.searchParams.get('client_id')).toBeNull();
  expect(url.searchParams.get('response_type')).toBe('code');
  const externalId = url.searchParams.get('external_id')!;
  expect(externalId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  expect(externalId).not.toContain(client.cookies.get('sid')!.slice(0, 8));
  expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{24}$/);

  const back = await completeConsent(url.toString(), { username });
  expect(back.searchParams.get('user_id')).toBe(stack.sim.user(username).id);
  const since = lastSeq();
  const done = await gql<{ completeConnect: { vehicles: { id: string; make: string }[] } }>(client, COMPLETE, { u: back.toString() });
  expect(done.errors).toBeUndefined();
  expect(done.data!.completeConnect.vehicles).toEqual(cars.map((c) => ({ id: c.id, make: c.make })));
  // One token, one page of connections filtered by user and external id, one vehicle resource per car.
  const calls = api(since);
  expect(calls.filter((r) => r.kind === 'token').map((r) => `${r.path} ${r.status}`)).toEqual(['/oauth2/token 200']);
  const listing = calls.filter((r) => r.path === '/v3/connections');
  expect(listing).toHaveLength(1);
  expect(listing[0]!.query).toMatchObject({ 'filter[userId]': stack.sim.user(username).id, 'filter[user.externalId]': externalId });
  expect(calls.filter((r) => r.endpoint === '/').map((r) => r.vehicleId).sort()).toEqual(cars.map((c) => c.id).sort());

  const session = await gql<{ session: { connected: boolean; vehicleIds: string[] } }>(client, '{ session { connected vehicleIds } }');
  expect(session.data!.session).toEqual({ connected: true, vehicleIds: cars.map((c) => c.id) });

  const before = lastSeq();
  const dash = await gql<{ vehicles: { id: string; make: string; vin: string; odometer: { distance: number }; battery: { percentRemaining: number; range: number }; lockStatus: { isLocked: boolean } }[] }>(
    client,
    '{ vehicles { id make vin odometer(maxAge: 0) { distance } battery(maxAge: 0) { percentRemaining range } lockStatus(maxAge: 0) { isLocked } } }',
  );
  expect(dash.errors).toBeUndefined();
  for (const [i, v] of dash.data!.vehicles.entries()) {
    expect(v.id).toBe(cars[i]!.id);
    expect(v.vin).toBe(cars[i]!.vin);
    expect(v.odometer.distance).toBeGreaterThan(0);
    expect(v.battery.percentRemaining).toBeGreaterThan(0);
    expect(v.battery.percentRemaining).toBeLessThanOrEqual(1);
    expect(typeof v.lockStatus.isLocked).toBe('boolean');
  }
  // One request per car (every page of its signals), each with the driver's sc-user-id.
  const reads = api(before);
  expect(reads.map((r) => `${r.method} ${r.endpoint}`)).toEqual(cars.map(() => 'GET /signals'));
  expect(reads.map((r) => r.userId)).toEqual(cars.map(() => stack.sim.user(username).id));

  const lock = await gql<{ lockVehicle: { status: string } }>(client, 'mutation($id: ID!) { lockVehicle(id: $id) { status } }', { id: cars[0]!.id });
  expect(lock.errors).toBeUndefined();
  expect(lock.data!.lockVehicle.status).toBe('success');
  const locked = await gql<{ vehicle: { lockStatus: { isLocked: boolean } } }>(client, 'query($id: ID) { vehicle(id: $id) { lockStatus(maxAge: 60) { isLocked } } }', { id: cars[0]!.id });
  expect(locked.data!.vehicle.lockStatus.isLocked).toBe(true);

  const cut = lastSeq();
  const off = await gql<{ disconnectVehicle: boolean }>(client, 'mutation($id: ID!) { disconnectVehicle(id: $id) }', { id: cars[0]!.id });
  expect(off.data).toEqual({ disconnectVehicle: true });
  expect(api(cut).filter((r) => r.method === 'DELETE').map((r) => `${r.path.replace(/[^/]+$/, ':id')} ${r.status} ${r.vehicleId}`)).toEqual([`/v3/connections/:id 204 ${cars[0]!.id}`]);
  const left = await gql<{ session: { vehicleIds: string[] } }>(client, '{ session { vehicleIds } }');
  expect(left.data!.session.vehicleIds).toEqual([cars[1]!.id]);

  // signOut ends the remaining connection at Smartcar, then the session.
  const out = lastSeq();
  expect((await gql(client, 'mutation { signOut }')).data).toEqual({ signOut: true });
  expect(api(out).filter((r) => r.method === 'DELETE').map((r) => `${r.status} ${r.vehicleId}`)).toEqual([`204 ${cars[1]!.id}`]);
  expect((await gql(client, '{ session { connected } }')).errors![0]!.extensions.code).toBe('UNAUTHENTICATED');
}, 30_000);

test('REST: /connect → consent → /exchange?user_id&state → /vehicle', async () => {
  const username = unique('');
  const car = stack.sim.user(username).vehicles[0]!;
  const client = new Client(stack.url);
  const start = await client.get('/connect');
  expect(start.status).toBe(302);
  const connect = new URL(start.headers.get('location')!);
  expect(connect.searchParams.get('external_id')).toMatch(/^[A-Za-z0-9_-]{22}$/);
  const back = await completeConsent(connect.toString(), { username });
  const exchange = await client.get(`/exchange${back.search}`);
  expect(exchange.status).toBe(302);
  expect(exchange.headers.get('location')).toBe('/vehicle');
  const vehicle = await client.get('/vehicle');
  responses.push(vehicle.body);
  expect(vehicle.status).toBe(200);
  expect(JSON.parse(vehicle.body)).toEqual({ id: car.id, make: car.make, model: car.model, year: car.year });

  // The same user_id and state again: the state is spent.
  const again = await client.get(`/exchange${back.search}`);
  expect(again.status).toBe(400);
  expect(JSON.parse(again.body).error.code).toBe('BAD_USER_INPUT');
});

test("a scan of Redis, responses and logs finds no application token, no session token and no driver's user id in clear", async () => {
  const client = new Client(stack.url);
  const username = unique('');
  const back = await consentV3(client, username);
  const userId = stack.sim.user(username).id;
  expect((await gql(client, COMPLETE, { u: back.toString() })).errors).toBeUndefined();
  expect((await gql(client, '{ vehicles { odometer(maxAge: 0) { distance } } }')).errors).toBeUndefined();
  const sid = client.cookies.get('sid')!;

  // The sealed application token, opened with the stack's key: what must appear nowhere in clear.
  const hash = await stack.redis.hgetall(`${stack.prefix}${keys.appToken()}`);
  const aad = `${keys.appToken()}\n${createHash('sha256').update(stack.sim.v3.clientId).digest('base64url')}`;
  const appToken = new TokenCipher(Buffer.from(stack.tokenKey, 'base64')).open(hash.tok!, aad);
  expect(appToken.length).toBeGreaterThan(10);

  const dump: string[] = [];
  for (const key of await stack.redis.keys(`${stack.prefix}*`)) {
    dump.push(key);
    const type = await stack.redis.type(key);
    if (type === 'hash') dump.push(...Object.entries(await stack.redis.hgetall(key)).flat());
    else if (type === 'string') dump.push((await stack.redis.get(key)) ?? '');
    else if (type === 'zset') dump.push(...(await stack.redis.zrange(key, 0, -1, 'WITHSCORES')));
    else if (type === 'set') dump.push(...(await stack.redis.smembers(key)));
  }
  expect(dump.some((v) => v.includes(hashSessionToken(sid)))).toBe(true); // the scan does see the session's keys
  // With the application token, a v3 user id reaches the driver's cars: sealed at rest too.
  expect(dump.filter((t) => t.includes(userId))).toEqual([]);
  expect([...responses, ...stack.logs].filter((t) => t.includes(userId))).toEqual([]);
  for (const [where, texts] of [['redis', dump], ['responses', responses], ['logs', stack.logs]] as const) {
    expect({ where, appToken: texts.filter((t) => t.includes(appToken)).length }).toEqual({ where, appToken: 0 });
    expect({ where, sid: texts.filter((t) => t.includes(sid)).length }).toEqual({ where, sid: 0 });
  }
  expect(stack.logs.length).toBeGreaterThan(5);
}, 30_000);

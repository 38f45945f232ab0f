import { hashSessionToken } from '../../../src/session/session.token';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/** The main path over HTTP: real sockets, real Redis, the simulator, the real SDK. */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.stop());
beforeEach(() => stack.sim.resetRequests());

const CONNECT_URL = 'query Url($make: String) { connectUrl(make: $make) }';
const EXCHANGE = 'mutation Exchange($code: String!, $state: String) { exchangeCode(code: $code, state: $state) { vehicles { id make model year } } }';

/** connectUrl → consent as `username` → the code and state Connect sends back. */
async function authorize(client: Client, username: string): Promise<{ code: string; state: string }> {
  const res = await client.gql<{ connectUrl: string }>(CONNECT_URL);
  expect(res.errors).toBeUndefined();
  const back = await completeConsent(res.data!.connectUrl, { username });
  return { code: back.searchParams.get('code')!, state: back.searchParams.get('state')! };
}

async function connectCar(client: Client, username: string) {
  const { code, state } = await authorize(client, username);
  return client.gql<{ exchangeCode: { vehicles: { id: string; make: string; model: string; year: number }[] } }>(EXCHANGE, { code, state });
}

const apiCalls = () => stack.sim.requests().filter((r) => r.kind !== 'connect');

test('cookie flow: connectUrl sets the session cookie, exchangeCode connects and shows the car in one request', async () => {
  const client = new Client(stack.url);
  const url = await client.gql<{ connectUrl: string }>(CONNECT_URL, { make: 'TESLA' });
  const setCookie = url.headers.get('set-cookie')!;
  expect(setCookie).toMatch(/^sid=[A-Za-z0-9_-]{43}; Max-Age=86400; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
  const connect = new URL(url.data!.connectUrl);
  expect(connect.origin).toBe(stack.sim.origin);
  expect(connect.searchParams.get('make')).toBe('TESLA');
  expect(connect.searchParams.get('redirect_uri')).toBe('http://localhost:8000/exchange');
  expect(connect.searchParams.get('mode')).toBe('test');
  expect(connect.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{24}$/);

  const back = await completeConsent(url.data!.connectUrl, { username: 'driver@example.com' });
  stack.sim.resetRequests();
  const res = await client.gql(EXCHANGE, { code: back.searchParams.get('code'), state: back.searchParams.get('state') });
  expect(res.errors).toBeUndefined();
  const car = stack.sim.user('driver@example.com').vehicles[0]!;
  expect(res.data).toEqual({ exchangeCode: { vehicles: [{ id: car.id, make: 'TESLA', model: 'Model 3', year: 2021 }] } });
  expect(apiCalls().map((r) => `${r.method} ${r.path}`)).toEqual([
    'POST /oauth/token',
    'GET /v2.0/user/',
    'GET /v2.0/vehicles/',
    `GET /v2.0/vehicles/${car.id}/permissions`,
    `GET /v2.0/vehicles/${car.id}/`,
  ]);

  const session = await client.gql('{ session { connected vehicleIds } }');
  expect(session.data).toEqual({ session: { connected: true, vehicleIds: [car.id] } });
});

test('a repeat vehicle query is answered from Redis: no upstream request', async () => {
  const client = new Client(stack.url);
  await connectCar(client, 'family@example.com');
  const family = stack.sim.user('family@example.com').vehicles;
  stack.sim.resetRequests();
  const res = await client.gql('{ vehicles { id make model year } vehicle { make } }');
  expect(res.errors).toBeUndefined();
  expect(res.data).toEqual({
    vehicles: family.map((v) => ({ id: v.id, make: v.make, model: v.model, year: v.year })),
    vehicle: { make: 'FORD' },
  });
  const again = await client.gql(`{ vehicle(id: "${family[2]!.id}") { id make model year } }`);
  expect(again.data).toEqual({ vehicle: { id: family[2]!.id, make: 'TOYOTA', model: 'RAV4 Prime', year: 2022 } });
  expect(apiCalls()).toEqual([]);
});

test('without a cached make, N vehicles cost N attribute reads in one request, whatever the fields asked', async () => {
  const client = new Client(stack.url);
  const { code, state } = await authorize(client, `fleet-${Date.now()}+4@example.com`);
  const exchanged = await client.gql<{ exchangeCode: { vehicles: { id: string }[] } }>(
    'mutation($code: String!, $state: String) { exchangeCode(code: $code, state: $state) { vehicles { id } } }',
    { code, state },
  );
  expect(exchanged.data!.exchangeCode.vehicles).toHaveLength(4);
  stack.sim.resetRequests();
  const res = await client.gql('{ vehicles { make a: make model ...F } } fragment F on Vehicle { year m2: model }');
  expect(res.errors).toBeUndefined();
  expect(apiCalls().map((r) => r.endpoint)).toEqual(['/', '/', '/', '/']);
});

test('bearer flow: createSession, then the token in Authorization works without cookies', async () => {
  const app = new Client(stack.url);
  const created = await app.gql<{ createSession: { token: string; expiresAt: string } }>('mutation { createSession { token expiresAt } }');
  const { token, expiresAt } = created.data!.createSession;
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now() + 23 * 3_600_000);
  const bearerOnly = new Client(stack.url);
  bearerOnly.bearer = token;
  const res = await connectCar(bearerOnly, 'family@example.com');
  expect(res.errors).toBeUndefined();
  expect(res.data!.exchangeCode.vehicles.map((v) => v.make)).toEqual(['FORD', 'NISSAN', 'TOYOTA']);
  expect(bearerOnly.cookies.size).toBe(0);
  const session = await bearerOnly.gql<{ session: { vehicleIds: string[] } }>('{ session { vehicleIds } }');
  expect(session.data!.session.vehicleIds).toHaveLength(3);
});

test('no session, or an unknown or forged one: UNAUTHENTICATED', async () => {
  const anonymous = new Client(stack.url);
  for (const q of ['{ vehicles { id } }', '{ vehicle { id } }', '{ session { connected } }']) {
    const res = await anonymous.gql(q);
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
  }
  const forged = new Client(stack.url);
  forged.bearer = 'A'.repeat(43);
  expect((await forged.gql('{ vehicles { id } }')).errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  forged.bearer = 'not a token at all';
  expect((await forged.gql('{ vehicles { id } }')).errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  const cookie = new Client(stack.url);
  cookie.cookies.set('sid', 'B'.repeat(43));
  expect((await cookie.gql('{ vehicles { id } }')).errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
  // A session with no car yet: the list is empty, and "the first vehicle" does not exist.
  const fresh = new Client(stack.url);
  await fresh.gql('mutation { createSession { token } }');
  expect((await fresh.gql('{ vehicles { id } }')).data).toEqual({ vehicles: [] });
  expect((await fresh.gql('{ vehicle { id } }')).errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
});

describe('state rules', () => {
  test('by default (auto) a missing state is rejected before Smartcar is asked when the redirect URI is http(s)', async () => {
    const client = new Client(stack.url);
    const { code } = await authorize(client, 'driver@example.com');
    stack.sim.resetRequests();
    const res = await client.gql(EXCHANGE, { code });
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors?.[0]?.message).toMatch(/^state: required/);
    expect(apiCalls()).toEqual([]);
  });

  test('missing state is accepted with a custom-scheme redirect URI (auto) or SMARTCAR_REQUIRE_STATE=false, so Connect URLs built by mobile SDKs work', async () => {
    const envs: Record<string, string>[] = [{ SMARTCAR_REDIRECT_URI: `sc${stack.sim.client.clientId}://exchange` }, { SMARTCAR_REQUIRE_STATE: 'false' }];
    for (const env of envs) {
      const client = new Client((await stack.another(env)).url);
      const { code } = await authorize(client, 'driver@example.com');
      const res = await client.gql(EXCHANGE, { code });
      expect(res.errors).toBeUndefined();
    }
  });

  test('a state of another session is rejected, and that session can still use it', async () => {
    const alice = new Client(stack.url);
    const mallory = new Client(stack.url);
    const { code, state } = await authorize(alice, 'driver@example.com');
    await mallory.gql('mutation { createSession { token } }');
    stack.sim.resetRequests();
    const res = await mallory.gql(EXCHANGE, { code, state });
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors?.[0]?.message).toMatch(/^state: unknown, expired, already used, or issued to another session/);
    expect(apiCalls()).toEqual([]); // the code was not spent
    expect((await alice.gql(EXCHANGE, { code, state })).errors).toBeUndefined();
  });

  test('a state is single-use', async () => {
    const client = new Client(stack.url);
    const { code, state } = await authorize(client, 'driver@example.com');
    expect((await client.gql(EXCHANGE, { code, state })).errors).toBeUndefined();
    const { code: code2 } = await authorize(client, 'driver@example.com');
    const reused = await client.gql(EXCHANGE, { code: code2, state });
    expect(reused.errors?.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
  });

  test('a state expires after 10 minutes', async () => {
    const client = new Client(stack.url);
    const { code, state } = await authorize(client, 'driver@example.com');
    const key = `${stack.prefix}sess:{${hashSessionToken(client.cookies.get('sid')!)}}:states`;
    const expiry = Number(await stack.redis.zscore(key, state));
    expect(expiry - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(expiry - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    await stack.redis.zadd(key, 'XX', Date.now() - 1, state); // ten minutes pass
    const res = await client.gql(EXCHANGE, { code, state });
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
  });

  test('with SMARTCAR_REQUIRE_STATE=true a missing state is rejected before Smartcar is asked', async () => {
    const strict = await stack.another({ SMARTCAR_REQUIRE_STATE: 'true' });
    const client = new Client(strict.url);
    const { code } = await authorize(client, 'driver@example.com');
    stack.sim.resetRequests();
    const res = await client.gql(EXCHANGE, { code });
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
    expect(apiCalls()).toEqual([]);
  });
});

test('a code Smartcar rejects is BAD_USER_INPUT with what Smartcar said', async () => {
  const client = new Client(stack.url);
  const state = () => client.gql<{ connectUrl: string }>(CONNECT_URL).then((r) => new URL(r.data!.connectUrl).searchParams.get('state'));
  const res = await client.gql(EXCHANGE, { code: '00000000-0000-4000-8000-000000000000', state: await state() });
  expect(res.errors).toHaveLength(1);
  expect(res.errors![0]!.extensions).toEqual({
    code: 'BAD_USER_INPUT',
    smartcar: { type: 'invalid_grant', code: null, requestId: expect.stringMatching(/^[0-9a-f-]{36}$/), resolution: null, suggestedUserMessage: null, retryAfter: null },
  });
  const bad = await client.gql(EXCHANGE, { code: 'no spaces allowed', state: await state() });
  expect(bad.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
});

test('connectUrl validates its arguments', async () => {
  const client = new Client(stack.url);
  const res = await client.gql('{ connectUrl(scope: ["read_odometer", "DROP TABLE"], singleSelectVin: "short") }');
  expect(res.errors?.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
  expect(res.errors?.[0]?.message).toMatch(/scope: not permission names: "DROP TABLE"; singleSelectVin/);
  const ok = await client.gql<{ connectUrl: string }>('{ connectUrl(scope: ["required:read_vehicle_info"], forcePrompt: true, singleSelectVin: "5YJ3E1EA7KF000001") }');
  const url = new URL(ok.data!.connectUrl);
  expect(url.searchParams.get('scope')).toBe('required:read_vehicle_info');
  expect(url.searchParams.get('approval_prompt')).toBe('force');
  expect(url.searchParams.get('single_select_vin')).toBe('5YJ3E1EA7KF000001');
});

test('two sessions never see each other’s vehicles', async () => {
  const a = new Client(stack.url);
  const b = new Client(stack.url);
  await connectCar(a, 'driver@example.com');
  await connectCar(b, 'family@example.com');
  const aIds = (await a.gql<{ vehicles: { id: string }[] }>('{ vehicles { id } }')).data!.vehicles.map((v) => v.id);
  const bIds = (await b.gql<{ vehicles: { id: string }[] }>('{ vehicles { id } }')).data!.vehicles.map((v) => v.id);
  expect(aIds).toEqual(stack.sim.user('driver@example.com').vehicles.map((v) => v.id));
  expect(bIds).toEqual(stack.sim.user('family@example.com').vehicles.map((v) => v.id));
  const stolen = await b.gql(`{ vehicle(id: "${aIds[0]}") { make } }`);
  expect(stolen.errors?.map((e) => e.extensions.code)).toEqual(['NOT_FOUND']);
  expect(stolen.data).toBeNull();
});

test('several connections per session: a second brand adds its cars; reconnecting the same account replaces its pair', async () => {
  const client = new Client(stack.url);
  await connectCar(client, 'driver@example.com');
  await connectCar(client, `second-${Date.now()}+2@example.com`);
  const ids = (await client.gql<{ session: { vehicleIds: string[] } }>('{ session { vehicleIds } }')).data!.session.vehicleIds;
  expect(ids).toHaveLength(3);
  const hash = hashSessionToken(client.cookies.get('sid')!);
  const connectionsBefore = await stack.redis.keys(`${stack.prefix}sess:{${hash}}:conn:*`);
  expect(connectionsBefore).toHaveLength(2);
  await connectCar(client, 'driver@example.com');
  const connectionsAfter = await stack.redis.keys(`${stack.prefix}sess:{${hash}}:conn:*`);
  expect(connectionsAfter).toHaveLength(2);
  expect((await client.gql<{ session: { vehicleIds: string[] } }>('{ session { vehicleIds } }')).data!.session.vehicleIds.sort()).toEqual([...ids].sort());
});

test('Redis holds no token and no raw session token; neither do the logs or responses', async () => {
  const cookieClient = new Client(stack.url);
  const bearerClient = new Client(stack.url);
  const username = `secrets-${Date.now()}+2@example.com`;
  const responses: string[] = [];
  responses.push((await connectCar(cookieClient, username)).raw);
  const created = await bearerClient.gql<{ createSession: { token: string } }>('mutation { createSession { token } }');
  bearerClient.bearer = created.data!.createSession.token;
  bearerClient.cookies.clear();
  responses.push((await connectCar(bearerClient, username)).raw);
  responses.push((await bearerClient.gql('{ vehicles { id make model year } session { vehicleIds } }')).raw);

  const tokens = stack.sim.issuedTokens(username);
  expect(tokens.length).toBeGreaterThanOrEqual(4);
  const sessionTokens = [cookieClient.cookies.get('sid')!, bearerClient.bearer];

  const keys = await stack.redis.keys(`${stack.prefix}*`);
  expect(keys.length).toBeGreaterThan(0);
  let dump = '';
  for (const key of keys) {
    const type = await stack.redis.type(key);
    dump += `${key}\n`;
    if (type === 'string') dump += `${await stack.redis.get(key)}\n`;
    else if (type === 'hash') dump += `${JSON.stringify(await stack.redis.hgetall(key))}\n`;
    else if (type === 'zset') dump += `${JSON.stringify(await stack.redis.zrange(key, 0, -1, 'WITHSCORES'))}\n`;
    else if (type === 'set') dump += `${JSON.stringify(await stack.redis.smembers(key))}\n`;
    else throw new Error(`unexpected ${type} at ${key}`);
  }
  expect(dump).toContain('"pair":"v1.'); // the sealed pairs are there…
  const everything = [dump, ...responses, ...stack.logs].join('\n');
  for (const secret of [...tokens, ...sessionTokens]) expect(everything).not.toContain(secret); // …and nothing in clear
});

import Redis from 'ioredis';
import { keys } from '../../../src/redis';
import { hashSessionToken } from '../../../src/session/session.token';
import { TokenCipher } from '../../../src/tokens/token.cipher';
import { TokenVault } from '../../../src/tokens/token.vault';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * Transparent refresh in one gateway process: real Redis, the simulator with short-lived tokens, the
 * real SDK. The simulator's request record gives the exact number of refreshes.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { TOKEN_REFRESH_MARGIN_SEC: '0', TOKEN_REFRESH_COOLDOWN_MS: '400', SMARTCAR_TIMEOUT_MS: '2000', TOKEN_REFRESH_LOCK_TTL_MS: '3000', SMARTCAR_REFRESH_GRACE_SEC: '10' },
  });
});
afterAll(() => stack.stop());
afterEach(() => {
  stack.sim.clearFaults();
  stack.sim.configure({ accessTokenTtlSec: 7200 });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const refreshes = () => stack.sim.requests().filter((r) => r.grantType === 'refresh_token' || (r.kind === 'token' && r.fault));
const attributeCalls = () => stack.sim.requests().filter((r) => r.endpoint === '/');

/** Connects `username` in `client`'s session without reading attributes (so reads need a token). */
async function connect(client: Client, username: string, accessTokenTtlSec = 7200): Promise<string[]> {
  stack.sim.configure({ accessTokenTtlSec });
  const url = (await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl;
  const back = await completeConsent(url, { username });
  const res = await client.gql<{ exchangeCode: { vehicles: { id: string }[] } }>(
    'mutation($code: String!, $state: String) { exchangeCode(code: $code, state: $state) { vehicles { id } } }',
    { code: back.searchParams.get('code'), state: back.searchParams.get('state') },
  );
  stack.sim.configure({ accessTokenTtlSec: 7200 });
  expect(res.errors).toBeUndefined();
  return res.data!.exchangeCode.vehicles.map((v) => v.id);
}

async function connectionKeys(client: Client): Promise<string[]> {
  const hash = hashSessionToken(client.cookies.get('sid')!);
  return (await stack.redis.keys(`${stack.prefix}sess:{${hash}}:conn:*`)).filter((k) => !/:(lock|cooldown)$/.test(k)).sort();
}

test('50 concurrent queries on an expired access token: all succeed, exactly one refresh', async () => {
  const client = new Client(stack.url);
  const username = `storm-${Date.now()}@example.com`;
  const [id] = await connect(client, username, 1);
  await sleep(1_100);
  stack.sim.resetRequests();
  const results = await Promise.all(Array.from({ length: 50 }, () => client.gql<{ vehicle: { make: string } }>('{ vehicle { id make } }')));
  const expected = stack.sim.user(username).vehicles[0]!;
  for (const r of results) {
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({ vehicle: { id, make: expected.make } });
  }
  expect(refreshes().map((r) => r.status)).toEqual([200]);
  // Every vehicle read used the new token: Smartcar never answered 401.
  expect(attributeCalls().length).toBeGreaterThanOrEqual(1);
  expect(attributeCalls().every((r) => r.status === 200)).toBe(true);
});

test('a 401 on a token that has not expired: one refresh, one retry', async () => {
  const client = new Client(stack.url);
  const username = `early-${Date.now()}@example.com`;
  await connect(client, username);
  stack.sim.expireAccessTokens(username); // Smartcar stops accepting it; the gateway still thinks it valid
  stack.sim.resetRequests();
  const res = await client.gql<{ vehicle: { make: string } }>('{ vehicle { make } }');
  expect(res.errors).toBeUndefined();
  expect(res.data!.vehicle.make).toBe(stack.sim.user(username).vehicles[0]!.make);
  expect(stack.sim.requests().map((r) => `${r.kind}:${r.grantType ?? r.endpoint}:${r.status}`)).toEqual(['api:/:401', 'token:refresh_token:200', 'api:/:200']);
});

test('a 401 that persists after the refresh is not a loop: one refresh, one retry, then RECONNECT_REQUIRED', async () => {
  const client = new Client(stack.url);
  await connect(client, `loop-${Date.now()}@example.com`);
  stack.sim.addFault({ target: 'api', mode: 'error', status: 401, count: 2 });
  stack.sim.resetRequests();
  const res = await client.gql('{ vehicle { make } }');
  expect(res.errors?.map((e) => e.extensions.code)).toEqual(['RECONNECT_REQUIRED']);
  expect(stack.sim.requests().map((r) => `${r.kind}:${r.status}`)).toEqual(['api:401', 'token:200', 'api:401']);
  // The pair itself was good (the refresh succeeded): it is kept.
  expect(await connectionKeys(client)).toHaveLength(1);
  expect((await client.gql('{ vehicle { make } }')).errors).toBeUndefined();
});

test('a revoked refresh token: RECONNECT_REQUIRED with a connectUrl, its tokens gone, the other connection still works', async () => {
  const client = new Client(stack.url);
  const revoked = `revoked-${Date.now()}@example.com`;
  const kept = `kept-${Date.now()}@example.com`;
  const [revokedCar] = await connect(client, revoked);
  const [keptCar] = await connect(client, kept);
  expect(await connectionKeys(client)).toHaveLength(2);
  stack.sim.expireAccessTokens(revoked);
  stack.sim.revokeRefreshTokens(revoked);
  stack.sim.resetRequests();

  const res = await client.gql(`{ vehicle(id: "${revokedCar}") { make } }`);
  expect(res.errors).toHaveLength(1);
  const ext = res.errors![0]!.extensions as { code: string; connectUrl: string; smartcar: { type: string } };
  expect(ext.code).toBe('RECONNECT_REQUIRED');
  expect(ext.smartcar.type).toBe('invalid_grant');
  const again = new URL(ext.connectUrl);
  expect(again.origin).toBe(stack.sim.origin);
  expect(again.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{24}$/);
  expect(refreshes().map((r) => r.status)).toEqual([400]);

  expect(await connectionKeys(client)).toHaveLength(1);
  const session = await client.gql<{ session: { vehicleIds: string[] } }>('{ session { vehicleIds } }');
  expect(session.data!.session.vehicleIds).toEqual([keptCar]);
  const other = await client.gql<{ vehicle: { make: string } }>(`{ vehicle(id: "${keptCar}") { make } }`);
  expect(other.data!.vehicle.make).toBe(stack.sim.user(kept).vehicles[0]!.make);
  expect(refreshes()).toHaveLength(1);

  // The connectUrl works: the driver connects again and the car is back.
  const back = await completeConsent(ext.connectUrl, { username: revoked });
  const reconnected = await client.gql('mutation($c: String!, $s: String) { exchangeCode(code: $c, state: $s) { vehicles { id } } }', {
    c: back.searchParams.get('code'),
    s: back.searchParams.get('state'),
  });
  expect(reconnected.errors).toBeUndefined();
});

test('Smartcar down during a refresh: UPSTREAM_UNAVAILABLE, the pair unchanged, a cooldown, then success', async () => {
  const client = new Client(stack.url);
  await connect(client, `down-${Date.now()}@example.com`, 1);
  const [connKey] = await connectionKeys(client);
  const before = await stack.redis.hgetall(connKey!);
  await sleep(1_100);
  stack.sim.addFault({ target: 'token', mode: 'error', status: 503, count: 1 });
  stack.sim.resetRequests();

  const down = await client.gql('{ vehicle { make } }');
  expect(down.errors?.map((e) => e.extensions.code)).toEqual(['UPSTREAM_UNAVAILABLE']);
  expect((await stack.redis.hgetall(connKey!)).pair).toBe(before.pair);
  expect((await stack.redis.hgetall(connKey!)).ver).toBe('1');

  // Within the cooldown the gateway does not call Smartcar again.
  const cooling = await client.gql('{ vehicle { make } }');
  expect(cooling.errors?.map((e) => e.extensions.code)).toEqual(['UPSTREAM_UNAVAILABLE']);
  expect(refreshes()).toHaveLength(1);

  await sleep(450);
  const up = await client.gql<{ vehicle: { make: string } }>('{ vehicle { make } }');
  expect(up.errors).toBeUndefined();
  expect(refreshes().map((r) => r.status)).toEqual([503, 200]);
  expect((await stack.redis.hgetall(connKey!)).ver).toBe('2');
});

test('a network failure during a proactive refresh of a still-valid token: the request is served with it', async () => {
  // A gateway with the default 5-minute margin, clamped to half of this 4 s token's life.
  const early = await stack.another({ TOKEN_REFRESH_MARGIN_SEC: '300' });
  const client = new Client(early.url);
  await connect(client, `early-net-${Date.now()}@example.com`, 4);
  await sleep(2_100);
  stack.sim.addFault({ target: 'token', mode: 'reset', count: 1 });
  stack.sim.resetRequests();
  const res = await client.gql('{ vehicle { make } }');
  expect(res.errors).toBeUndefined();
  expect(refreshes().map((r) => r.status)).toEqual([0]);
  expect(attributeCalls().map((r) => r.status)).toEqual([200]);
  // Nobody knows whether Smartcar rotated the pair: the gateway retries by itself, with no request.
  const [connKey] = await connectionKeys(client);
  for (let i = 0; (await stack.redis.hget(connKey!, 'ver')) !== '2'; i++) {
    if (i > 100) throw new Error('the refresh of unknown outcome was never retried');
    await sleep(100);
  }
  expect(refreshes().map((r) => r.status)).toEqual([0, 200]);
  expect(await stack.redis.hmget(connKey!, 'rfv', 'rft')).toEqual([null, null]);
  expect(await stack.redis.zcard(`${stack.prefix}refresh:pending`)).toBe(0);
}, 20_000);

test('compare-and-set: a stale writer cannot overwrite a newer pair', async () => {
  const client = new Client(stack.url);
  await connect(client, `cas-${Date.now()}@example.com`);
  const [connKey] = await connectionKeys(client);
  const m = /sess:\{([^}]+)\}:conn:(.+)$/.exec(connKey!)!;
  const redis = new Redis(process.env.TEST_REDIS_URL!, { keyPrefix: stack.prefix });
  try {
    const vault = new TokenVault(redis, new TokenCipher(Buffer.from(stack.tokenKey, 'base64')));
    const current = (await vault.read(m[1]!, m[2]!))!;
    expect(current.version).toBe(1);
    const pair = (tag: string) => ({ accessToken: `a-${tag}`, refreshToken: `r-${tag}`, expiresAt: Date.now() + 7_200_000, refreshExpiresAt: Date.now() + 86_400_000 });
    expect(await vault.replace(m[1]!, m[2]!, 1, pair('winner'), Date.now())).toEqual({ written: true, version: 2 });
    expect(await vault.replace(m[1]!, m[2]!, 1, pair('stale'), Date.now())).toEqual({ written: false, reason: 'stale' });
    expect((await vault.read(m[1]!, m[2]!))!.pair.accessToken).toBe('a-winner');
    expect(await vault.removeIfVersion(m[1]!, m[2]!, 1)).toBe(false);
    expect(await vault.replace(m[1]!, 'no-such-connection', 1, pair('x'), Date.now())).toEqual({ written: false, reason: 'gone' });
    expect(keys.connection(m[1]!, m[2]!)).toBe(connKey!.slice(stack.prefix.length));
  } finally {
    redis.disconnect();
  }
});

test('the sweep refreshes pairs older than 50 days, once, and extends the session', async () => {
  const client = new Client(stack.url);
  await connect(client, `idle-${Date.now()}@example.com`);
  const [connKey] = await connectionKeys(client);
  const sessionKey = connKey!.replace(/:conn:.+$/, '');
  await stack.redis.hset(connKey!, 'iat', Date.now() - 51 * 86_400_000);
  const expiresBefore = Number(await stack.redis.hget(sessionKey, 'expires'));
  stack.sim.resetRequests();
  const result = await stack.app.sweepNow();
  expect(result.ran).toBe(true);
  expect(result.refreshed).toBeGreaterThanOrEqual(1);
  expect(result.failed).toBe(0);
  expect(result.recovered).toBe(0);
  expect(refreshes().filter((r) => r.status === 200).length).toBe(result.refreshed);
  expect((await stack.redis.hgetall(connKey!)).ver).toBe('2');
  // The session now lives as long as the new refresh token (absolute times: a PTTL read races the clock).
  const expiresAfter = Number(await stack.redis.hget(sessionKey, 'expires'));
  expect(expiresAfter).toBeGreaterThan(expiresBefore);
  expect(Math.abs((await stack.redis.pexpiretime(sessionKey)) - expiresAfter)).toBeLessThanOrEqual(1);
  stack.sim.resetRequests();
  expect((await stack.app.sweepNow()).refreshed).toBe(0);
  expect(refreshes()).toHaveLength(0);
});

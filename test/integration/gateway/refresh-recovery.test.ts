import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { keyId } from '../../../src/tokens/token.cipher';
import { connectCar, connectionKeysOf } from '../../support/car';
import { Client, gatewayEnv, startStack, type Stack } from '../../support/gateway';
import { startPrivateRedis, type PrivateRedis } from '../../support/redis-server';

/**
 * A refresh whose outcome the gateway does not know must not lose the connection. Smartcar rotates the
 * pair when it receives the refresh and honours the old refresh token for a grace window only (8 s
 * here, about 60 s at Smartcar). In every test the simulator processes the refresh while the gateway
 * does not learn the answer, then nobody asks for anything for longer than the window, and then the
 * connection must still work: the gateway has to finish the refresh by itself.
 */

const GRACE_SEC = 8;
const ENV = {
  SMARTCAR_REFRESH_GRACE_SEC: String(GRACE_SEC),
  SMARTCAR_TIMEOUT_MS: '2000', // the token call's deadline too; the lock TTL is then 4 s
  TOKEN_REFRESH_MARGIN_SEC: '0',
};
const ROOT = join(__dirname, '../../..');

// A Redis of this file's own, because one test hangs it (SIGSTOP); one simulator per process, because
// the SDK reads its origins from the process environment.
let redis: PrivateRedis;
let stack: Stack;
// The sweep command runs from a build of its own (made before any server runs: tsc blocks the process).
const build = join(ROOT, '.test-build', randomBytes(4).toString('hex'));
beforeAll(async () => {
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', build], { stdio: 'inherit' });
  redis = await startPrivateRedis();
  stack = await startStack({ env: ENV, simulator: { refreshGraceSec: GRACE_SEC }, redisUrl: redis.url });
}, 120_000);
afterAll(async () => {
  redis.process.kill('SIGCONT');
  await stack.stop();
  await redis.stop();
  rmSync(build, { recursive: true, force: true });
});
beforeEach(async () => {
  // What an earlier test left in flight must not take this test's fault.
  await until('no refresh in flight', async () => (await stack.redis.zcard(`${stack.prefix}refresh:pending`)) === 0, 20_000);
  stack.sim.clearFaults();
}, 30_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Refreshes Smartcar received, including one whose client had gone before it was answered. */
const refreshes = (s: Stack = stack) => s.sim.requests().filter((r) => r.grantType === 'refresh_token' || (r.kind === 'token' && r.fault));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Waits out the grace window counted from `since`, with no request at all. */
const outlastGraceWindow = (since: number) => sleep(Math.max(0, since + GRACE_SEC * 1000 + 1_500 - Date.now()));

/** The connection answers a fresh reading, and needs no refresh for it: the gateway already finished. */
async function expectServedWithoutRefresh(s: Stack, client: Client): Promise<void> {
  s.sim.resetRequests();
  const res = await client.gql<{ vehicle: { odometer: { distance: number } } }>('{ vehicle { odometer(maxAge: 0) { distance } } }');
  expect(res.errors).toBeUndefined();
  expect(res.data!.vehicle.odometer.distance).toBeGreaterThan(0);
  expect(refreshes(s)).toEqual([]);
}

async function pendingOf(s: Stack, connKey: string): Promise<string | null> {
  return s.redis.hget(connKey, 'rfv');
}

test('the token call times out on an expired token but Smartcar rotated: the gateway finishes the refresh by itself', async () => {
  const client = new Client(stack.url);
  await connectCar(stack.sim, client, `timeout-${Date.now()}@example.com`, { accessTokenTtlSec: 1 });
  const [connKey] = await connectionKeysOf(stack.redis, stack.prefix, client);
  await sleep(1_100);
  stack.sim.addFault({ target: 'token', mode: 'delay', delayMs: 2_500, count: 1 }); // answered after the 2 s deadline
  stack.sim.resetRequests();

  const started = Date.now();
  const res = await client.gql('{ vehicle { make } }');
  expect(res.errors?.map((e) => e.extensions.code)).toEqual(['UPSTREAM_UNAVAILABLE']);
  await outlastGraceWindow(started);

  // Exactly one more refresh, by the gateway itself, with no request from anyone; never invalid_grant.
  const statuses = refreshes().map((r) => r.status);
  expect(statuses).toHaveLength(2);
  expect(statuses[1]).toBe(200);
  expect(await stack.redis.hget(connKey!, 'ver')).toBe('2');
  expect(await pendingOf(stack, connKey!)).toBeNull();
  expect(await stack.redis.zcard(`${stack.prefix}refresh:pending`)).toBe(0);
  await expectServedWithoutRefresh(stack, client);
}, 30_000);

test('an early refresh times out and the request is served with the old token: the refresh is still finished', async () => {
  // The default margin, clamped to half of this 6 s token's life: refreshed early from 3 s on, and
  // the old token still works when the 2 s deadline passes.
  const early = await stack.another({ TOKEN_REFRESH_MARGIN_SEC: '300' });
  const client = new Client(early.url);
  await connectCar(stack.sim, client, `early-${Date.now()}@example.com`, { accessTokenTtlSec: 6 });
  const [connKey] = await connectionKeysOf(stack.redis, stack.prefix, client);
  await sleep(3_100);
  stack.sim.addFault({ target: 'token', mode: 'delay', delayMs: 2_500, count: 1 });
  stack.sim.resetRequests();

  const started = Date.now();
  const res = await client.gql('{ vehicle { odometer(maxAge: 0) { distance } } }');
  expect(res.errors).toBeUndefined(); // nobody notices: the old access token still works
  await outlastGraceWindow(started); // and it has expired by now

  expect(refreshes().map((r) => r.status)).toHaveLength(2);
  expect(await stack.redis.hget(connKey!, 'ver')).toBe('2');
  await expectServedWithoutRefresh(stack, client);
}, 30_000);

test('SIGTERM during the in-server sweep: stop() waits for the refresh it sent, and the pair is stored', async () => {
  const swept = await stack.another({ TOKEN_SWEEP_INTERVAL_SEC: '0' });
  const client = new Client(stack.url);
  await connectCar(stack.sim, client, `sweep-stop-${Date.now()}@example.com`);
  const [connKey] = await connectionKeysOf(stack.redis, stack.prefix, client);
  await stack.redis.hset(connKey!, 'iat', Date.now() - 51 * 86_400_000);
  stack.sim.addFault({ target: 'token', mode: 'delay', delayMs: 1_200, count: 1 }); // inside the 2 s deadline
  stack.sim.resetRequests();

  const sweep = swept.sweepNow();
  await until('the sweep to send its refresh', async () => (await pendingOf(stack, connKey!)) === '1');
  await swept.stop();
  // stop() returned only once the refresh it had sent was stored.
  expect(await stack.redis.hget(connKey!, 'ver')).toBe('2');
  expect(await pendingOf(stack, connKey!)).toBeNull();
  await expect(sweep).resolves.toMatchObject({ ran: true, refreshed: 1, failed: 0 });
  expect(refreshes().map((r) => r.status)).toEqual([200]);
  await expectServedWithoutRefresh(stack, client);
}, 30_000);

test('`npm run refresh-sweep` killed in the middle of a refresh: its lock is gone in seconds, a gateway finishes the refresh', async () => {
  {
    const client = new Client(stack.url);
    await connectCar(stack.sim, client, `sweep-killed-${Date.now()}@example.com`);
    const [connKey] = await connectionKeysOf(stack.redis, stack.prefix, client);
    await stack.redis.hset(connKey!, 'iat', Date.now() - 51 * 86_400_000);
    stack.sim.addFault({ target: 'token', mode: 'delay', delayMs: 1_500, count: 1 }); // rotated after the kill
    stack.sim.resetRequests();

    const child = spawn(process.execPath, [join(build, 'sweep.js')], {
      env: { ...process.env, ...gatewayEnv(stack.sim, stack.prefix, stack.tokenKey), ...ENV, REDIS_URL: redis.url, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await until('the sweep command to send its refresh', async () => {
      if (child.exitCode !== null) throw new Error(`the sweep command exited ${child.exitCode}: ${stderr}`);
      return (await pendingOf(stack, connKey!)) === '1';
    }, 20_000);
    const started = Date.now();
    child.kill('SIGKILL');
    await exited;

    // The sweep's lease is seconds long, not the 15 minutes a dead sweeper used to keep.
    const lease = await stack.redis.pttl(`${stack.prefix}sweep:lock`);
    expect(lease).toBeGreaterThan(0);
    expect(lease).toBeLessThanOrEqual(10_000);
    await outlastGraceWindow(started);

    // The running gateway finished the dead process's refresh, with no request from anyone.
    expect(await stack.redis.hget(connKey!, 'ver')).toBe('2');
    expect(refreshes().map((r) => r.status).filter((s) => s === 400)).toEqual([]);
    await expectServedWithoutRefresh(stack, client);
    await until("the dead sweeper's lease to end", async () => (await stack.redis.exists(`${stack.prefix}sweep:lock`)) === 0, Math.max(0, started + 10_500 - Date.now()));
    await expect(stack.app.sweepNow()).resolves.toMatchObject({ ran: true, failed: 0 });
  }
}, 60_000);

test('Redis refuses the rotated pair (five failed writes): the pair kept in memory is written once Redis is back', async () => {
  const client = new Client(stack.url);
  await connectCar(stack.sim, client, `not-stored-${Date.now()}@example.com`, { accessTokenTtlSec: 1 });
  const [connKey] = await connectionKeysOf(stack.redis, stack.prefix, client);
  await sleep(1_100);
  stack.sim.addFault({ target: 'token', mode: 'delay', delayMs: 800, count: 1 });
  stack.sim.resetRequests();

  const started = Date.now();
  const answer = client.gql('{ vehicle { make } }');
  await until('the refresh to be sent', async () => (await pendingOf(stack, connKey!)) === '1');
  redis.process.kill('SIGSTOP'); // Redis hangs: every write of the new pair times out
  try {
    await until('five failed writes', async () => stack.logs.some((l) => l.includes('refreshed pair not stored yet')));
  } finally {
    redis.process.kill('SIGCONT');
  }
  await answer;
  await outlastGraceWindow(started);

  // One refresh at Smartcar; the pair it issued is the one stored.
  expect(refreshes().map((r) => r.status)).toEqual([200]);
  expect(await stack.redis.hget(connKey!, 'ver')).toBe('2');
  await expectServedWithoutRefresh(stack, client);
}, 40_000);

describe('key rotation', () => {
  const query = '{ vehicle { odometer(maxAge: 0) { distance } } }';
  const as = (client: Client, url: string) => Object.assign(new Client(url), { cookies: new Map(client.cookies) });

  test('previous keys open old pairs, which are re-sealed with the new key when next written', async () => {
    const username = `rotate-${Date.now()}@example.com`;
    const client = new Client(stack.url);
    await connectCar(stack.sim, client, username);
    const [connKey] = await connectionKeysOf(stack.redis, stack.prefix, client);
    const newKey = randomBytes(32);
    const rotated = await stack.another({ TOKEN_ENCRYPTION_KEY: newKey.toString('base64'), TOKEN_ENCRYPTION_KEYS_PREVIOUS: stack.tokenKey });

    expect((await as(client, rotated.url).gql(query)).errors).toBeUndefined();
    expect((await stack.redis.hget(connKey!, 'pair'))!.split('.')[1]).toBe(keyId(Buffer.from(stack.tokenKey, 'base64')));
    stack.sim.expireAccessTokens(username); // the next read gets a 401, then a refresh writes the pair
    expect((await as(client, rotated.url).gql(query)).errors).toBeUndefined();
    expect((await stack.redis.hget(connKey!, 'pair'))!.split('.')[1]).toBe(keyId(newKey));

    const newOnly = await stack.another({ TOKEN_ENCRYPTION_KEY: newKey.toString('base64') });
    expect((await as(client, newOnly.url).gql(query)).errors).toBeUndefined();
  });

  test('a pair no key opens is a dead connection: removed, RECONNECT_REQUIRED with a connectUrl, one warning; the sweep removes such pairs', async () => {
    const client = new Client(stack.url);
    await connectCar(stack.sim, client, `lost-key-${Date.now()}@example.com`);
    const idle = new Client(stack.url);
    await connectCar(stack.sim, idle, `lost-key-idle-${Date.now()}@example.com`);
    const [connKey] = await connectionKeysOf(stack.redis, stack.prefix, client);
    const [idleKey] = await connectionKeysOf(stack.redis, stack.prefix, idle);
    await stack.redis.hset(idleKey!, 'iat', Date.now() - 51 * 86_400_000);
    const lostKey = await stack.another({ TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') });
    const warnings = () => stack.logs.filter((l) => l.includes('opens with neither TOKEN_ENCRYPTION_KEY nor TOKEN_ENCRYPTION_KEYS_PREVIOUS'));
    const warnedBefore = warnings().length;

    const res = await as(client, lostKey.url).gql(query);
    expect(res.errors?.map((e) => e.extensions.code)).toEqual(['RECONNECT_REQUIRED']);
    expect(new URL(res.errors![0]!.extensions.connectUrl as string).searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(await stack.redis.exists(connKey!)).toBe(0);
    expect(warnings().length - warnedBefore).toBe(1);
    const session = await as(client, lostKey.url).gql<{ session: { connected: boolean; vehicleIds: string[] } }>('{ session { connected vehicleIds } }');
    expect(session.data!.session).toEqual({ connected: false, vehicleIds: [] });

    const idleSince = Date.now() - 50 * 86_400_000;
    let due = 0;
    for (const k of await stack.redis.keys(`${stack.prefix}sess:*:conn:*`)) if (Number(await stack.redis.hget(k, 'iat')) <= idleSince) due++;
    expect(due).toBeGreaterThanOrEqual(1);
    expect(await lostKey.sweepNow()).toMatchObject({ ran: true, refreshed: 0, removed: due, failed: 0 });
    expect(await stack.redis.exists(idleKey!)).toBe(0);
  });
});

import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import Redis from 'ioredis';
import { AppError, UpstreamError } from '../../../src/errors';
import { createLogger } from '../../../src/logger';
import { metrics } from '../../../src/metrics';
import { keys } from '../../../src/redis';
import { AppTokenProvider, type AppTokenOptions } from '../../../src/tokens/app-token';
import { TokenCipher } from '../../../src/tokens/token.cipher';
import { testRedisUrl } from '../../support/gateway';
import { counterDeltas } from '../../support/metrics';

/**
 * Smartcar API v3's application token on the test Redis, with a scripted token endpoint: one fetch for
 * many callers and instances, ahead of expiry, once per 401, and what a failed fetch leaves.
 */

const OPTIONS: Omit<AppTokenOptions, 'clientId'> = { aheadMs: 2_000, lockTtlMs: 500, retryAfterFailureMs: 300 };
const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const redisClients: Redis[] = [];
/** Each test its own prefix: its own application token. */
function newRedis(prefix = `at${randomBytes(4).toString('hex')}:`): Redis {
  const redis = new Redis(testRedisUrl(), { keyPrefix: prefix, maxRetriesPerRequest: 1 });
  redisClients.push(redis);
  return redis;
}
afterAll(async () => {
  for (const r of redisClients) {
    const prefix = r.options.keyPrefix!;
    const left = await r.keys(`${prefix}*`);
    if (left.length) await r.del(...left.map((k) => k.slice(prefix.length)));
    r.disconnect();
  }
});

/** A token endpoint: each call answers the next scripted step, by default a fresh token of `ttlMs`. */
class Endpoint {
  calls = 0;
  private readonly steps: (() => Promise<{ accessToken: string; expiresAt: number }>)[] = [];
  constructor(private readonly ttlMs = HOUR) {}
  then(...steps: (() => Promise<{ accessToken: string; expiresAt: number }>)[]): this {
    this.steps.push(...steps);
    return this;
  }
  readonly fetch = async () => {
    this.calls++;
    await sleep(30); // a round trip: long enough for concurrent callers to pile up
    const step = this.steps.shift();
    return step ? step() : { accessToken: `app-${randomBytes(6).toString('hex')}`, expiresAt: Date.now() + this.ttlMs };
  };
}

const cipher = new TokenCipher(randomBytes(32));
function instance(redis: Redis, endpoint: Endpoint, options: Partial<AppTokenOptions> = {}) {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const provider = new AppTokenProvider(redis, cipher, endpoint.fetch, { clientId: 'client_test', ...OPTIONS, ...options }, createLogger('info', sink));
  return { provider, logs };
}

const outcomes = counterDeltas(metrics.appTokens, 'outcome');
beforeEach(() => outcomes());
/**
 * The outcomes but `reused`: an instance that takes the lock just after another stored a token finds
 * it there (how many do depends on timing).
 */
async function calls(): Promise<Record<string, number>> {
  const { reused: _reused, ...rest } = await outcomes();
  return rest;
}

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(() => null, (e: unknown) => e);
  if (!(err instanceof AppError)) throw new Error(`expected an AppError, got ${String(err)}`);
  return err;
}

test('50 callers over three instances: one fetch; the token sealed in Redis; then no Redis read per call', async () => {
  const redis = newRedis();
  const endpoint = new Endpoint();
  const instances = [0, 1, 2].map(() => instance(redis, endpoint).provider);
  const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => instances[i % 3]!.get()));
  expect(endpoint.calls).toBe(1);
  expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
  expect(tokens[0]!.version).toBe(1);
  expect(await calls()).toEqual({ fetched: 1 });

  const row = await redis.hgetall(keys.appToken());
  expect(Object.keys(row).sort()).toEqual(['exp', 'iat', 'tok', 'ver']);
  expect(row.tok).toMatch(/^v1\./);
  expect(JSON.stringify(row)).not.toContain(tokens[0]!.accessToken);
  const ttl = await redis.pttl(keys.appToken());
  expect(ttl).toBeGreaterThan(HOUR - 60_000);
  expect(ttl).toBeLessThanOrEqual(HOUR);

  // Held in memory: what Redis holds now is not even read.
  await redis.hset(keys.appToken(), 'tok', 'v1.garbage');
  expect((await instances[1]!.get()).accessToken).toBe(tokens[0]!.accessToken);
  expect(endpoint.calls).toBe(1);
});

test('ahead of expiry one instance fetches anew; the others take the new token from Redis', async () => {
  const redis = newRedis();
  // 2.4 s of life: due at half of it (1.2 s), sooner than aheadMs before its end.
  const endpoint = new Endpoint().then(async () => ({ accessToken: 'app-short', expiresAt: Date.now() + 2_400 }));
  const [a, b] = [instance(redis, endpoint).provider, instance(redis, endpoint).provider];
  expect(await a.get()).toMatchObject({ accessToken: 'app-short', version: 1 });
  expect(await b.get()).toMatchObject({ accessToken: 'app-short', version: 1 }); // from Redis
  expect(endpoint.calls).toBe(1);
  await sleep(1_300); // now due
  const [fromA, fromB] = await Promise.all([a.get(), b.get()]);
  expect(endpoint.calls).toBe(2);
  const fresh = fromA.version === 2 ? fromA : fromB;
  expect(fresh.version).toBe(2);
  expect([1, 2]).toContain((fromA === fresh ? fromB : fromA).version); // the other may still use the valid one
  expect(await a.get()).toEqual(fresh);
  expect(await b.get()).toEqual(fresh);
  expect(endpoint.calls).toBe(2);
  expect(await outcomes()).toEqual({ fetched: 2 });
});

test('a short-lived token is due at half its life, not fetched on every call', async () => {
  const endpoint = new Endpoint().then(async () => ({ accessToken: 'app-1s', expiresAt: Date.now() + 1_000 }));
  const { provider } = instance(newRedis(), endpoint);
  for (let i = 0; i < 20; i++) expect((await provider.get()).accessToken).toBe('app-1s');
  expect(endpoint.calls).toBe(1);
  await sleep(600);
  expect((await provider.get()).accessToken).not.toBe('app-1s');
  expect(endpoint.calls).toBe(2);
});

test('a failed fetch ahead of expiry: the still-valid token serves, quiet for a while, then tried again', async () => {
  const redis = newRedis();
  const down = () => Promise.reject(new UpstreamError('timeout', null, { type: null, code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null }));
  const endpoint = new Endpoint().then(async () => ({ accessToken: 'app-old', expiresAt: Date.now() + 1_000 }), down);
  const { provider, logs } = instance(redis, endpoint);
  expect((await provider.get()).accessToken).toBe('app-old');
  await sleep(550);
  // Due (past half its life): the call fetches, fails, and serves the old token.
  expect((await provider.get()).accessToken).toBe('app-old');
  expect(endpoint.calls).toBe(2);
  expect(logs.map((l) => JSON.parse(l).msg)).toEqual(['app token fetch failed: the current token serves until it expires']);
  expect(logs.join()).not.toContain('app-old');
  expect((await provider.get()).accessToken).toBe('app-old'); // quiet: no call
  expect(endpoint.calls).toBe(2);
  await sleep(OPTIONS.retryAfterFailureMs + 50);
  const next = await provider.get();
  expect(endpoint.calls).toBe(3);
  expect(next.version).toBe(2);
  expect(next.accessToken).not.toBe('app-old');
  expect(await outcomes()).toEqual({ fetched: 2, failed: 1 });
});

test('no valid token and the fetch fails: the error, mapped (timeout → UPSTREAM_UNAVAILABLE, invalid_client → internal)', async () => {
  const details = (type: string | null) => ({ type, code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null });
  const endpoint = new Endpoint().then(
    () => Promise.reject(new UpstreamError('timeout', null, details(null))),
    () => Promise.reject(new UpstreamError('response', 401, details('invalid_client'))),
  );
  const { provider } = instance(newRedis(), endpoint);
  expect((await rejection(provider.get())).code).toBe('UPSTREAM_UNAVAILABLE');
  const misconfigured = await rejection(provider.get());
  expect(misconfigured.code).toBe('INTERNAL_SERVER_ERROR');
  expect(misconfigured.extensions.smartcar).toMatchObject({ type: 'invalid_client' });
  expect(endpoint.calls).toBe(2);
  expect((await provider.get()).version).toBe(1);
});

test('a 401: callers that saw the same token share one renewal, across instances; a token already newer costs nothing', async () => {
  const redis = newRedis();
  const endpoint = new Endpoint();
  const [a, b] = [instance(redis, endpoint).provider, instance(redis, endpoint).provider];
  const first = await a.get();
  expect(await b.get()).toEqual(first);
  const renewed = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).renew(first)));
  expect(endpoint.calls).toBe(2);
  expect(new Set(renewed.map((t) => t.version))).toEqual(new Set([2]));
  expect(new Set(renewed.map((t) => t.accessToken)).size).toBe(1);
  expect(renewed[0]!.accessToken).not.toBe(first.accessToken);
  // Held by both now: get() answers the new one with no call.
  expect((await a.get()).version).toBe(2);
  expect((await b.get()).version).toBe(2);
  expect(endpoint.calls).toBe(2);
  expect(await calls()).toEqual({ fetched: 2 });

  // Redis lost the token (a flush, a failover): versions start again, and a 401 still costs one fetch.
  await redis.del(keys.appToken());
  const current = await a.get();
  const again = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).renew(current)));
  expect(endpoint.calls).toBe(3);
  expect(new Set(again.map((t) => t.accessToken)).size).toBe(1);
  expect(again[0]!.accessToken).not.toBe(current.accessToken);
  expect(again[0]!.version).toBe(1);
  expect((await b.get()).accessToken).toBe(again[0]!.accessToken);
});

test('a token sealed for another client id is not used: fetched anew, stored over its version', async () => {
  const redis = newRedis();
  const endpoint = new Endpoint();
  const other = await instance(redis, endpoint, { clientId: 'client_other' }).provider.get();
  const mine = await instance(redis, endpoint).provider.get();
  expect(endpoint.calls).toBe(2);
  expect(mine.accessToken).not.toBe(other.accessToken);
  expect(mine.version).toBe(2);
  expect(await redis.hget(keys.appToken(), 'ver')).toBe('2');
});

test('another instance holds the lock: with a valid token, no wait; with none, UPSTREAM_UNAVAILABLE after the lock TTL, no call', async () => {
  const redis = newRedis();
  const endpoint = new Endpoint();
  await redis.set(keys.appTokenLock(), 'someone-else', 'PX', 5_000);
  const { provider } = instance(redis, endpoint);
  const started = Date.now();
  const err = await rejection(provider.get());
  expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
  expect(Date.now() - started).toBeGreaterThanOrEqual(OPTIONS.lockTtlMs + 1_000);
  expect(endpoint.calls).toBe(0);

  // The holder stores a token (due soon): a caller uses it at once rather than waiting for the lock.
  await redis.del(keys.appTokenLock());
  const due = new Endpoint().then(async () => ({ accessToken: 'app-due', expiresAt: Date.now() + OPTIONS.aheadMs - 500 }));
  await instance(redis, due).provider.get();
  await sleep(800); // past half its life: due
  await redis.set(keys.appTokenLock(), 'someone-else', 'PX', 5_000);
  const waited = Date.now();
  expect((await instance(redis, endpoint).provider.get()).accessToken).toBe('app-due');
  expect(Date.now() - waited).toBeLessThan(400);
  expect(endpoint.calls).toBe(0);
}, 10_000);

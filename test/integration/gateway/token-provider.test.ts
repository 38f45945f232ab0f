import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type Redis from 'ioredis';
import { AppError, serviceUnavailable, UpstreamError, type SmartcarDetails } from '../../../src/errors';
import { createLogger } from '../../../src/logger';
import { metrics } from '../../../src/metrics';
import { keys } from '../../../src/redis';
import type { SmartcarPort, TokenPair } from '../../../src/smartcar/smartcar.port';
import { TokenCipher } from '../../../src/tokens/token.cipher';
import { TokenProvider, type LentToken, type RefreshOptions } from '../../../src/tokens/token.provider';
import { TokenVault } from '../../../src/tokens/token.vault';
import { counterDeltas } from '../../support/metrics';
import { privateKeyspace } from '../../support/redis';

/**
 * The refresh logic itself, path by path: the real TokenProvider and TokenVault on the test Redis, and a
 * scripted token endpoint in place of Smartcar (each call answers what the test says, when it says),
 * so every outcome of a refresh (rotated, refused, unknown, Redis refusing the new pair, a lost
 * compare-and-set, a lock held elsewhere) is reached exactly and checked in Redis, in the refresh
 * metrics and in what the caller gets. The whole stack with the simulator is in refresh*.test.ts.
 */

const DAY = 86_400_000;
const OPTIONS: RefreshOptions = { marginSec: 0, lockTtlMs: 600, cooldownMs: 400, graceMs: 3_000 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const details = (type: string | null, code: string | null = null): SmartcarDetails => ({
  type,
  code,
  requestId: 'req-1',
  resolution: null,
  suggestedUserMessage: null,
  retryAfter: null,
});
const timeout = () => new UpstreamError('timeout', null, details(null));
const rateLimited = () => new UpstreamError('response', 429, details('RATE_LIMIT'));
const invalidGrant = () => new UpstreamError('response', 400, details('invalid_grant'));

const { redis: keyspace } = privateKeyspace('tp');
let redis: Redis;
const key = randomBytes(32);
beforeAll(() => {
  redis = keyspace();
});

/** A token endpoint that answers each call with the next scripted step (a fresh pair by default). */
class TokenEndpoint {
  readonly received: string[] = [];
  private readonly steps: ((refreshToken: string) => Promise<TokenPair>)[] = [];
  private issued = 0;
  constructor(private readonly tag: string) {}

  then(...steps: ((refreshToken: string) => Promise<TokenPair>)[]): this {
    this.steps.push(...steps);
    return this;
  }

  readonly api = {
    refreshTokens: (refreshToken: string) => {
      this.received.push(refreshToken);
      return (this.steps.shift() ?? (() => this.rotate()))(refreshToken);
    },
  } as unknown as SmartcarPort;

  /** Smartcar rotates: a new pair, valid for `ttlMs`. */
  async rotate(ttlMs = 3_600_000): Promise<TokenPair> {
    const n = ++this.issued + 1;
    return pair(`${this.tag}-${n}`, ttlMs);
  }
  readonly ok = () => this.rotate();
  readonly fail = (err: unknown) => () => Promise.reject(err);
  /** Answers only once `open()` is called; `reached` resolves when the call arrives. */
  gate(answer: () => Promise<TokenPair> = () => this.rotate()) {
    let open!: () => void;
    let arrived!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    const reached = new Promise<void>((r) => (arrived = r));
    return {
      step: async () => {
        arrived();
        await opened;
        return answer();
      },
      open,
      reached,
    };
  }
}

const pair = (tag: string, ttlMs = 3_600_000): TokenPair => ({
  accessToken: `a-${tag}`,
  refreshToken: `r-${tag}`,
  expiresAt: Date.now() + ttlMs,
  refreshExpiresAt: Date.now() + 60 * DAY,
});

/** A vault on the test Redis whose writes can be made to fail, or to race with another writer. */
class TestVault extends TokenVault {
  replaceCalls = 0;
  /** The next this-many replace() calls fail as if Redis were unavailable. */
  failReplaces = 0;
  replaceError: Error | null = null;
  beforeBegin: (() => Promise<void>) | null = null;
  readCalls = 0;
  readError: Error | null = null;
  /** Runs once before the read numbered `n` (1-based). */
  beforeRead: { n: number; run: () => Promise<void> } | null = null;
  pendingCalls = 0;

  override async read(...args: Parameters<TokenVault['read']>) {
    this.readCalls++;
    if (this.beforeRead?.n === this.readCalls) await this.beforeRead.run();
    if (this.readError) throw this.readError;
    return super.read(...args);
  }

  override async pending(limit: number) {
    this.pendingCalls++;
    return super.pending(limit);
  }

  override async replace(...args: Parameters<TokenVault['replace']>) {
    this.replaceCalls++;
    if (this.replaceError) throw this.replaceError;
    if (this.failReplaces > 0) {
      this.failReplaces--;
      throw serviceUnavailable(new Error('Command timed out'));
    }
    return super.replace(...args);
  }

  override async beginRefresh(...args: Parameters<TokenVault['beginRefresh']>) {
    const hook = this.beforeBegin;
    this.beforeBegin = null;
    await hook?.();
    return super.beginRefresh(...args);
  }
}

interface Setup {
  provider: TokenProvider;
  vault: TestVault;
  smartcar: TokenEndpoint;
  logs: string[];
  hash: string;
  id: string;
  connKey: string;
  reconnectUrls: string[];
}

const providers: TokenProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.drain()));
});

function makeProvider(options: Partial<RefreshOptions> = {}, reconnect: (h: string) => Promise<string> = async (h) => `https://connect.example/?for=${h.slice(0, 4)}`) {
  const vault = new TestVault(redis, new TokenCipher(key));
  const smartcar = new TokenEndpoint(randomBytes(3).toString('hex'));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const reconnectUrls: string[] = [];
  const provider = new TokenProvider(vault, redis, smartcar.api, { ...OPTIONS, ...options }, createLogger('info', sink), async (h) => {
    reconnectUrls.push(h);
    return reconnect(h);
  });
  providers.push(provider);
  return { provider, vault, smartcar, logs, reconnectUrls };
}

/** Stores a connection holding `stored` (version 1) in a new session. */
async function connection(stored: TokenPair, hash = randomBytes(32).toString('base64url'), issuedAt = Date.now()) {
  const id = randomBytes(6).toString('base64url');
  const vault = new TokenVault(redis, new TokenCipher(key));
  const connKey = keys.connection(hash, id);
  await redis.hset(connKey, { pair: vault.seal(hash, id, stored), ver: 1, iat: issuedAt });
  await redis.hset(keys.session(hash), { [`c:${id}`]: 'ref', expires: String(Date.now() + DAY) });
  return { hash, id, connKey };
}

async function setup(stored: TokenPair, options: Partial<RefreshOptions> = {}, issuedAt?: number): Promise<Setup> {
  const made = makeProvider(options);
  return { ...made, ...(await connection(stored, undefined, issuedAt)) };
}

/** Refresh outcomes counted since the last call (every test asserts exactly which moved). */
const outcomes = counterDeltas(metrics.refreshes, 'outcome');
beforeEach(async () => {
  await redis.del(keys.refreshPending()); // what an earlier test left pending is not this test's
  await outcomes();
});

/** The log lines whose message contains `text`, parsed. */
const logged = (logs: string[], text: string) => logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.msg).includes(text));
const stored = async (s: Pick<Setup, 'connKey'>) => redis.hgetall(s.connKey);
const pendingIndex = () => redis.zrange(keys.refreshPending(), 0, -1);
const member = (s: Pick<Setup, 'hash' | 'id'>, version = 1) => `${s.hash}/${s.id}/${version}`;
const expired = (tag: string) => pair(tag, -1_000);

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`expected an AppError, got ${String(err)}`);
  return err;
}

describe('when a token is refreshed', () => {
  test('a valid token is lent as it is; an expired one is refreshed once, and the new pair stored', async () => {
    const s = await setup(pair('old'));
    expect(await s.provider.lend(s.hash, s.id)).toEqual({ accessToken: 'a-old', version: 1 });
    expect(s.smartcar.received).toEqual([]);

    const e = await setup(expired('old'));
    const lent = await e.provider.lend(e.hash, e.id);
    expect(e.smartcar.received).toEqual(['r-old']);
    expect(lent.version).toBe(2);
    expect(lent.accessToken).toMatch(/^a-[0-9a-f]{6}-2$/);
    const row = await stored(e);
    expect(row.ver).toBe('2');
    expect(Number(row.iat)).toBeGreaterThan(Date.now() - 5_000);
    expect(row.rfv).toBeUndefined();
    expect(row.rft).toBeUndefined();
    expect(await pendingIndex()).not.toContain(member(e));
    expect(await e.provider.lend(e.hash, e.id)).toEqual(lent); // the stored pair opens again
    expect(await redis.exists(keys.refreshLock(e.hash, e.id))).toBe(0); // the lock was released
    expect(await outcomes()).toEqual({ refreshed: 1 });
  });

  test('not too early: with a 300 s margin, a 6 s token is refreshed after half its life, not before', async () => {
    const issuedAt = Date.now() - 2_000; // 4 s left of 6
    const s = await setup(pair('old', 4_000), { marginSec: 300 }, issuedAt);
    expect(await s.provider.lend(s.hash, s.id)).toEqual({ accessToken: 'a-old', version: 1 });
    expect(s.smartcar.received).toEqual([]);

    const late = await setup(pair('old', 2_000), { marginSec: 300 }, Date.now() - 4_000); // 2 s left of 6
    expect((await late.provider.lend(late.hash, late.id)).version).toBe(2);
    expect(late.smartcar.received).toEqual(['r-old']);

    const hour = await setup(pair('old', 6 * 60_000), { marginSec: 300 }, Date.now() - 54 * 60_000); // 6 min left of 1 h
    expect((await hour.provider.lend(hour.hash, hour.id)).version).toBe(1);
    expect(await outcomes()).toEqual({ refreshed: 1 });
  });

  test('refreshIdle refreshes a token that is still valid', async () => {
    const s = await setup(pair('old'));
    const fresh = await s.provider.refreshIdle(s.hash, s.id);
    expect(fresh.version).toBe(2);
    expect(s.smartcar.received).toEqual(['r-old']);
    expect(fresh.pair.refreshToken).toMatch(/-2$/);
    expect(fresh.pendingSince).toBeNull();
  });

  test('withAccessToken: a 401 renews once and retries once with the new token; other failures pass through untouched', async () => {
    const s = await setup(pair('old'));
    const used: string[] = [];
    const auth = new UpstreamError('response', 401, details('AUTHENTICATION'));
    const result = await s.provider.withAccessToken(s.hash, s.id, async (token) => {
      used.push(token);
      if (used.length === 1) throw auth;
      return 'answer';
    });
    expect(result).toBe('answer');
    expect(used).toHaveLength(2);
    expect(used[0]).toBe('a-old');
    expect(used[1]).toMatch(/-2$/);
    expect(s.smartcar.received).toEqual(['r-old']);

    const other = new UpstreamError('response', 409, details('VEHICLE_STATE'));
    const calls: string[] = [];
    await expect(
      s.provider.withAccessToken(s.hash, s.id, async (token) => {
        calls.push(token);
        throw other;
      }),
    ).rejects.toBe(other);
    const plain = new Error('bug');
    await expect(s.provider.withAccessToken(s.hash, s.id, () => Promise.reject(plain))).rejects.toBe(plain);
    expect(calls).toEqual([used[1]]);
    expect(s.smartcar.received).toEqual(['r-old']);
  });
});

describe('one refresh per connection at a time', () => {
  test('two connections refreshed at the same moment each get their own new pair', async () => {
    const { provider, smartcar } = makeProvider();
    const hash = randomBytes(32).toString('base64url');
    const a = await connection(expired('A'), hash);
    const b = await connection(expired('B'), hash);
    const gateA = smartcar.gate(async () => pair('A-new'));
    const gateB = smartcar.gate(async () => pair('B-new'));
    smartcar.then(gateA.step, gateB.step);
    const lentA = provider.lend(hash, a.id);
    await gateA.reached;
    const lentB = provider.lend(hash, b.id);
    await gateB.reached;
    gateB.open();
    gateA.open();
    expect(await lentA).toEqual({ accessToken: 'a-A-new', version: 2 });
    expect(await lentB).toEqual({ accessToken: 'a-B-new', version: 2 });
    expect(smartcar.received).toEqual(['r-A', 'r-B']);
    expect(await outcomes()).toEqual({ refreshed: 2 });
  });

  test('concurrent calls in one process share one refresh without touching the Redis lock', async () => {
    const s = await setup(expired('old'));
    const gate = s.smartcar.gate();
    s.smartcar.then(gate.step);
    const first = s.provider.lend(s.hash, s.id);
    await gate.reached;
    const others = Array.from({ length: 5 }, () => s.provider.lend(s.hash, s.id));
    await sleep(150); // long enough for a waiter on the Redis lock to poll
    gate.open();
    const all = await Promise.all([first, ...others]);
    for (const lent of all) expect(lent).toEqual(all[0]);
    expect(all[0]!.version).toBe(2);
    expect(s.smartcar.received).toEqual(['r-old']);
    // No "reused": nobody waited on the Redis lock and re-read the pair.
    expect(await outcomes()).toEqual({ refreshed: 1 });
  });

  test('a caller whose token of the version being produced was rejected gets a newer one still', async () => {
    const s = await setup(expired('old'));
    const gate = s.smartcar.gate();
    s.smartcar.then(gate.step);
    const first = s.provider.lend(s.hash, s.id); // produces version 2
    await gate.reached;
    const renewed = s.provider.renew(s.hash, s.id, { accessToken: 'rejected', version: 2 });
    gate.open();
    expect((await first).version).toBe(2);
    expect((await renewed).version).toBe(3);
    expect(s.smartcar.received).toHaveLength(2);
    expect(await outcomes()).toEqual({ refreshed: 2 });
  });

  test('another instance holding the lock: this one waits for its pair instead of calling Smartcar', async () => {
    const s = await setup(expired('old'));
    const other = makeProvider();
    const gate = other.smartcar.gate(async () => pair('theirs'));
    other.smartcar.then(gate.step);
    const theirs = other.provider.lend(s.hash, s.id);
    await gate.reached;
    const ours = s.provider.lend(s.hash, s.id);
    await sleep(200);
    gate.open();
    expect(await theirs).toEqual({ accessToken: 'a-theirs', version: 2 });
    expect(await ours).toEqual({ accessToken: 'a-theirs', version: 2 });
    expect(s.smartcar.received).toEqual([]);
    expect(await outcomes()).toEqual({ refreshed: 1, reused: 1 });
  });

  test('a lock held longer than its TTL plus a second: UPSTREAM_UNAVAILABLE, Smartcar never called', async () => {
    const s = await setup(expired('old'));
    await redis.set(keys.refreshLock(s.hash, s.id), 'someone-else', 'PX', 5_000);
    const started = Date.now();
    const err = await rejection(s.provider.lend(s.hash, s.id));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err.message).toBe('Refreshing the Smartcar token is taking too long. Try again shortly.');
    expect(Date.now() - started).toBeGreaterThanOrEqual(OPTIONS.lockTtlMs + 1_000);
    expect(Date.now() - started).toBeLessThan(4_000);
    // It polled the pair every 40-100 ms meanwhile: not a busy loop on Redis.
    expect(s.vault.readCalls).toBeGreaterThanOrEqual(1 + Math.floor(1_600 / 100));
    expect(s.vault.readCalls).toBeLessThanOrEqual(1 + Math.ceil(1_700 / 40));
    expect(s.smartcar.received).toEqual([]);
    expect(await redis.get(keys.refreshLock(s.hash, s.id))).toBe('someone-else'); // not released by us
    expect(await outcomes()).toEqual({});
  });

  test('another instance refreshed just before this one took the lock: its re-read finds the pair, no call', async () => {
    const s = await setup(expired('old'));
    // Read 1: lend() finds the expired pair; read 2 is the lock holder's re-read.
    s.vault.beforeRead = { n: 2, run: () => new TokenVault(redis, new TokenCipher(key)).replace(s.hash, s.id, 1, pair('other'), Date.now()).then(() => undefined) };
    expect(await s.provider.lend(s.hash, s.id)).toEqual({ accessToken: 'a-other', version: 2 });
    expect(s.vault.readCalls).toBe(2);
    expect(s.smartcar.received).toEqual([]);
    expect(await outcomes()).toEqual({ reused: 1 });
  });

  test('the version moved between the re-read and the record of the refresh: the newer pair, no call', async () => {
    const s = await setup(expired('old'));
    s.vault.beforeBegin = async () => {
      await new TokenVault(redis, new TokenCipher(key)).replace(s.hash, s.id, 1, pair('moved'), Date.now());
    };
    expect(await s.provider.lend(s.hash, s.id)).toEqual({ accessToken: 'a-moved', version: 2 });
    expect(s.smartcar.received).toEqual([]);
    expect(await outcomes()).toEqual({});
  });
});

describe('a refresh Smartcar answered with a refusal', () => {
  test('invalid_grant: the connection is removed, RECONNECT_REQUIRED with a connectUrl and what Smartcar said', async () => {
    const s = await setup(expired('old'));
    s.smartcar.then(s.smartcar.fail(invalidGrant()));
    const err = await rejection(s.provider.lend(s.hash, s.id));
    expect(err.code).toBe('RECONNECT_REQUIRED');
    expect(err.message).toBe('Smartcar no longer accepts this connection. Connect the vehicle again.');
    expect(err.extensions).toEqual({ smartcar: details('invalid_grant'), connectUrl: `https://connect.example/?for=${s.hash.slice(0, 4)}` });
    expect(s.reconnectUrls).toEqual([s.hash]);
    expect(await redis.exists(s.connKey)).toBe(0);
    expect(await redis.hexists(keys.session(s.hash), `c:${s.id}`)).toBe(0);
    expect(await pendingIndex()).not.toContain(member(s));
    expect(logged(s.logs, 'refresh token rejected: connection removed')).toEqual([expect.objectContaining({ connectionId: s.id, upstream: expect.objectContaining({ type: 'invalid_grant', requestId: 'req-1' }) })]);
    expect(await outcomes()).toEqual({ reconnect: 1 });
    // Gone for good: a later call says so without calling Smartcar.
    const again = await rejection(s.provider.lend(s.hash, s.id));
    expect(again.message).toBe('This connection is gone. Connect the vehicle again.');
    expect(again.extensions).toEqual({});
    expect(s.smartcar.received).toEqual(['r-old']);
  });

  test('invalid_grant when no Connect URL can be made: RECONNECT_REQUIRED all the same, without one', async () => {
    const made = makeProvider({}, () => Promise.reject(new Error('no state store')));
    const c = await connection(expired('old'));
    made.smartcar.then(made.smartcar.fail(invalidGrant()));
    const err = await rejection(made.provider.lend(c.hash, c.id));
    expect(err.code).toBe('RECONNECT_REQUIRED');
    expect(err.extensions).toEqual({ smartcar: details('invalid_grant') });
  });

  test('429: the pair and its version kept, nothing left pending, no cooldown: the next call asks Smartcar again', async () => {
    const s = await setup(expired('old'));
    const before = await stored(s);
    s.smartcar.then(s.smartcar.fail(rateLimited()));
    const err = await rejection(s.provider.lend(s.hash, s.id));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.extensions.smartcar).toEqual(details('RATE_LIMIT'));
    expect(await stored(s)).toEqual(before); // rfv/rft settled
    expect(await pendingIndex()).not.toContain(member(s));
    expect(await redis.exists(keys.refreshCooldown(s.hash, s.id))).toBe(0);
    expect(await outcomes()).toEqual({ failed: 1 });
    expect((await s.provider.lend(s.hash, s.id)).version).toBe(2);
    expect(s.smartcar.received).toEqual(['r-old', 'r-old']);
  });

  test('invalid_client (our configuration): refused the same way, no cooldown, no retry by itself', async () => {
    const s = await setup(expired('old'));
    s.smartcar.then(s.smartcar.fail(new UpstreamError('response', 401, details('invalid_client'))));
    expect((await rejection(s.provider.lend(s.hash, s.id))).code).toBe('INTERNAL_SERVER_ERROR');
    await sleep(450); // past the retry delay (300 ms)
    expect(s.smartcar.received).toEqual(['r-old']);
    expect(await redis.exists(keys.refreshCooldown(s.hash, s.id))).toBe(0);
    expect(await redis.hget(s.connKey, 'rfv')).toBeNull();
  });
});

describe('a refresh of unknown outcome', () => {
  test('an expired token and a timeout: UPSTREAM_UNAVAILABLE, never the expired token; a cooldown; this process retries alone', async () => {
    const s = await setup(expired('old'));
    s.smartcar.then(s.smartcar.fail(timeout()));
    const started = Date.now();
    const err = await rejection(s.provider.lend(s.hash, s.id));
    expect(err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err.extensions).toEqual({}); // a network failure carries no smartcar details
    const row = await stored(s);
    expect(row.ver).toBe('1');
    expect(row.rfv).toBe('1');
    expect(Number(row.rft)).toBeGreaterThanOrEqual(started);
    expect(await pendingIndex()).toContain(member(s));
    const ttl = await redis.pttl(keys.refreshCooldown(s.hash, s.id));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(OPTIONS.cooldownMs);
    expect(logged(s.logs, 'refresh outcome unknown: retrying')).toEqual([expect.objectContaining({ connectionId: s.id, kind: 'timeout', status: null })]);

    // Within the cooldown a request does not call Smartcar.
    const cooling = await rejection(s.provider.lend(s.hash, s.id));
    expect(cooling.message).toBe('Smartcar failed a moment ago. Try again shortly.');
    expect(s.smartcar.received).toEqual(['r-old']);

    // The retry, by itself, after a tenth of the window (300 ms), with the same refresh token.
    await until('the retry', () => s.logs.some((l) => l.includes('refresh of unknown outcome finished')));
    expect(logged(s.logs, 'refresh of unknown outcome finished')).toEqual([expect.objectContaining({ connectionId: s.id })]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(await redis.hget(s.connKey, 'ver')).toBe('2');
    expect(s.smartcar.received).toEqual(['r-old', 'r-old']);
    expect(await redis.hmget(s.connKey, 'rfv', 'rft')).toEqual([null, null]);
    await until('the index entry to go', async () => !(await pendingIndex()).includes(member(s)));
    expect(await outcomes()).toEqual({ unknown: 1, failed: 2, refreshed: 1, recovered: 1 });
  });

  test('an early refresh times out: the still-valid old token is lent, and the refresh finished later', async () => {
    const s = await setup(pair('old', 2_000), { marginSec: 300 }, Date.now() - 4_000);
    s.smartcar.then(s.smartcar.fail(timeout()));
    expect(await s.provider.lend(s.hash, s.id)).toEqual({ accessToken: 'a-old', version: 1 });
    await until('the retry', async () => (await redis.hget(s.connKey, 'ver')) === '2');
    expect(s.smartcar.received).toEqual(['r-old', 'r-old']);
    // The retry, done, is no longer background work: settle() returns at once, not after its bound.
    const t = Date.now();
    await s.provider.settle(10_000);
    expect(Date.now() - t).toBeLessThan(5_000);
  }, 30_000);

  test('an early refresh refused (429): the error, not the old token', async () => {
    const s = await setup(pair('old', 2_000), { marginSec: 300 }, Date.now() - 4_000);
    s.smartcar.then(s.smartcar.fail(rateLimited()));
    expect((await rejection(s.provider.lend(s.hash, s.id))).code).toBe('RATE_LIMITED');
  });

  test('failures in a row schedule one retry, not one each; drain() cancels it', async () => {
    const s = await setup(expired('old'), { cooldownMs: 1 });
    s.smartcar.then(s.smartcar.fail(timeout()), s.smartcar.fail(timeout()));
    await rejection(s.provider.lend(s.hash, s.id));
    await sleep(5);
    await rejection(s.provider.lend(s.hash, s.id));
    await until('the retry', async () => (await redis.hget(s.connKey, 'ver')) === '2');
    await sleep(400);
    expect(s.smartcar.received).toEqual(['r-old', 'r-old', 'r-old']);

    const d = await setup(expired('old'));
    d.smartcar.then(d.smartcar.fail(timeout()));
    await rejection(d.provider.lend(d.hash, d.id));
    await d.provider.drain();
    await sleep(500);
    expect(d.smartcar.received).toEqual(['r-old']);
    expect(await d.provider.recoverPending()).toEqual({}); // closed
    // Closed: another unknown outcome schedules nothing either.
    await redis.del(keys.refreshCooldown(d.hash, d.id));
    d.smartcar.then(d.smartcar.fail(timeout()));
    await rejection(d.provider.lend(d.hash, d.id));
    await sleep(500);
    expect(d.smartcar.received).toEqual(['r-old', 'r-old']);
  });

  test('two connections of unknown outcome at once: the process retries each, not only the first', async () => {
    const made = makeProvider();
    const a = await connection(expired('a'));
    const b = await connection(expired('b'));
    made.smartcar.then(made.smartcar.fail(timeout()), made.smartcar.fail(timeout()));
    await Promise.all([rejection(made.provider.lend(a.hash, a.id)), rejection(made.provider.lend(b.hash, b.id))]);
    await until('both retries', async () => (await redis.hget(a.connKey, 'ver')) === '2' && (await redis.hget(b.connKey, 'ver')) === '2');
    expect([...made.smartcar.received].sort()).toEqual(['r-a', 'r-a', 'r-b', 'r-b']);
    expect(await outcomes()).toEqual({ unknown: 2, failed: 2, refreshed: 2, recovered: 2 });
  });

  test('a failure that is not Smartcar’s (a bug): thrown as it is, left pending, no cooldown, recovery finishes it', async () => {
    const s = await setup(expired('old'));
    const bug = new TypeError('bug');
    s.smartcar.then(s.smartcar.fail(bug));
    await expect(s.provider.lend(s.hash, s.id)).rejects.toBe(bug);
    expect(await redis.hget(s.connKey, 'rfv')).toBe('1');
    expect(await redis.exists(keys.refreshCooldown(s.hash, s.id))).toBe(0);
    await sleep(400);
    expect(s.smartcar.received).toEqual(['r-old']); // no retry of its own
    expect(await outcomes()).toEqual({ failed: 1 });
    const counts = await s.provider.recoverPending();
    expect(counts.recovered).toBe(1);
    expect(await redis.hget(s.connKey, 'ver')).toBe('2');
  });
});

describe('recovery rounds', () => {
  /** A connection whose refresh of version 1 was recorded `agoMs` ago and never finished. */
  async function pendingConnection(agoMs = 0) {
    const c = await connection(expired('old'));
    expect(await new TokenVault(redis, new TokenCipher(key)).beginRefresh(c.hash, c.id, 1, Date.now() - agoMs)).toBeGreaterThan(0);
    return c;
  }

  test('each outcome, counted: recovered, settled, gone, expired, busy, failed', async () => {
    const { provider, smartcar, logs } = makeProvider();
    const recovered = await pendingConnection();
    const settled = await connection(expired('settled'));
    await redis.zadd(keys.refreshPending(), Date.now(), member(settled, 0)); // version 0 is long gone
    const gone = { hash: randomBytes(32).toString('base64url'), id: 'gone' };
    await redis.zadd(keys.refreshPending(), Date.now(), member(gone));
    const expiredOne = await pendingConnection(OPTIONS.graceMs + 100);
    const busy = await pendingConnection();
    await redis.set(keys.refreshLock(busy.hash, busy.id), 'someone-else', 'PX', 5_000);
    const failed = await pendingConnection();
    await redis.set(keys.refreshCooldown(failed.hash, failed.id), '1', 'PX', 5_000); // recovery ignores cooldowns
    await redis.zadd(keys.refreshPending(), Date.now(), 'not-a-member');
    // Oldest first (the expired one), then in the order they were sent: `recovered` is answered, `failed` refused.
    smartcar.then(smartcar.ok, smartcar.fail(rateLimited()));

    const counts = await provider.recoverPending();
    expect(counts).toEqual({ expired: 1, recovered: 1, settled: 1, gone: 1, busy: 1, failed: 1 });
    expect(smartcar.received).toEqual(['r-old', 'r-old']);
    expect(await redis.hget(recovered.connKey, 'ver')).toBe('2');
    expect(await redis.hget(failed.connKey, 'ver')).toBe('1');
    expect(await redis.hget(expiredOne.connKey, 'rfv')).toBe('1'); // left for the next use to find out
    expect((await pendingIndex()).sort()).toEqual([member(busy)]);
    expect(logged(logs, "refresh outcome unknown past Smartcar's grace window")).toEqual([
      expect.objectContaining({ connectionId: expiredOne.id, since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }),
    ]);
    expect(await outcomes()).toEqual({ unrecovered: 1, recovered: 1, refreshed: 1, failed: 1 });
  });

  test('a round looks at the 50 oldest entries; rounds of one process do not overlap', async () => {
    const { provider } = makeProvider();
    for (let i = 0; i < 55; i++) await redis.zadd(keys.refreshPending(), i, `${randomBytes(32).toString('base64url')}/c${i}/1`);
    const first = provider.recoverPending();
    expect(provider.recoverPending()).toBe(first);
    expect(await first).toEqual({ gone: 50 });
    expect(await provider.recoverPending()).toEqual({ gone: 5 });
    expect(await pendingIndex()).toEqual([]);
  });

  test('a refresh whose outcome is unknown again in recovery is retried once more, within the window', async () => {
    const { provider, smartcar } = makeProvider();
    const c = await pendingConnection();
    smartcar.then(smartcar.fail(timeout()));
    expect(await provider.recoverPending()).toEqual({ failed: 1 });
    await until('the retry', async () => (await redis.hget(c.connKey, 'ver')) === '2');
    expect(smartcar.received).toEqual(['r-old', 'r-old']);
  });

  test('Redis failing during a round: the round fails, the entry stays for the next one', async () => {
    const { provider, smartcar, vault } = makeProvider();
    const c = await pendingConnection();
    vault.readError = new AppError('SERVICE_UNAVAILABLE', 'down');
    await expect(provider.recoverPending()).rejects.toBe(vault.readError);
    expect(await pendingIndex()).toEqual([member(c)]);
    vault.readError = null;
    expect(await provider.recoverPending()).toEqual({ recovered: 1 });
    expect(smartcar.received).toEqual(['r-old']);
  });

  test('a retry scheduled for a connection removed meanwhile does nothing, quietly', async () => {
    const s = await setup(expired('old'));
    s.smartcar.then(s.smartcar.fail(timeout()));
    await rejection(s.provider.lend(s.hash, s.id));
    await redis.del(s.connKey);
    await s.provider.settle(2_000);
    expect(s.smartcar.received).toEqual(['r-old']);
    expect(logged(s.logs, 'refresh retry failed')).toEqual([]);
  });

  test('invalid_grant in recovery: gone', async () => {
    const { provider, smartcar } = makeProvider();
    const c = await pendingConnection();
    smartcar.then(smartcar.fail(invalidGrant()));
    expect(await provider.recoverPending()).toEqual({ gone: 1 });
    expect(await redis.exists(c.connKey)).toBe(0);
    expect(await pendingIndex()).toEqual([]);
  });

  test('an unreadable pair is a dead connection: removed, RECONNECT_REQUIRED with a connectUrl, one warning', async () => {
    const s = await setup(pair('old'));
    await redis.hset(s.connKey, 'pair', new TokenVault(redis, new TokenCipher(randomBytes(32))).seal(s.hash, s.id, pair('x')));
    const err = await rejection(s.provider.lend(s.hash, s.id));
    expect(err.code).toBe('RECONNECT_REQUIRED');
    expect(err.message).toBe('This connection can no longer be used. Connect the vehicle again.');
    expect(err.extensions).toEqual({ connectUrl: `https://connect.example/?for=${s.hash.slice(0, 4)}` });
    expect(await redis.exists(s.connKey)).toBe(0);
    expect(await redis.hexists(keys.session(s.hash), `c:${s.id}`)).toBe(0);
    expect(logged(s.logs, 'opens with neither TOKEN_ENCRYPTION_KEY nor TOKEN_ENCRYPTION_KEYS_PREVIOUS')).toEqual([expect.objectContaining({ connectionId: s.id })]);
    expect(await outcomes()).toEqual({ unreadable: 1 });
  });
});

test('Redis failing to read the pair is SERVICE_UNAVAILABLE, and the connection is kept', async () => {
  const s = await setup(expired('old'));
  s.vault.readError = new AppError('SERVICE_UNAVAILABLE', 'down');
  expect(await rejection(s.provider.lend(s.hash, s.id))).toBe(s.vault.readError);
  expect(await redis.exists(s.connKey)).toBe(1);
  expect(s.smartcar.received).toEqual([]);
  expect(await outcomes()).toEqual({});
});

describe('storing the new pair: Smartcar has already rotated it', () => {
  test('Redis refuses two writes: retried with backoff (100 + 200 ms), then stored', async () => {
    const s = await setup(expired('old'));
    s.vault.failReplaces = 2;
    const started = Date.now();
    const lent = await s.provider.lend(s.hash, s.id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(1_400);
    expect(lent.version).toBe(2);
    expect(s.vault.replaceCalls).toBe(3);
    expect(await redis.hget(s.connKey, 'ver')).toBe('2');
    expect(await outcomes()).toEqual({ refreshed: 1 });
  });

  test('Redis refuses five writes: the caller gets the new token, the pair is kept in memory and written once Redis takes it', async () => {
    const s = await setup(expired('old'));
    s.vault.failReplaces = 7; // five in the request, two in the background
    const started = Date.now();
    const lent = await s.provider.lend(s.hash, s.id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_450); // 100 + 200 + 400 + 800
    expect(lent.accessToken).toMatch(/-2$/);
    expect(lent.version).toBe(1); // what Redis holds
    expect(s.vault.replaceCalls).toBe(6); // five, and the background writer's first at once
    expect(logged(s.logs, 'refreshed pair not stored yet')).toEqual([expect.objectContaining({ connectionId: s.id, attempts: 5 })]);
    expect(await outcomes()).toEqual({ not_stored: 1 });
    // Meanwhile recovery leaves it to this process, which holds the only copy of the new pair.
    expect((await s.provider.recoverPending())[`busy`]).toBe(1);
    expect(s.smartcar.received).toEqual(['r-old']);

    await s.provider.settle(5_000);
    expect(s.vault.replaceCalls).toBe(8);
    const row = await stored(s);
    expect(row.ver).toBe('2');
    expect(row.rfv).toBeUndefined();
    expect(logged(s.logs, 'refreshed pair stored after Redis came back')).toEqual([expect.objectContaining({ connectionId: s.id })]);
    expect(await s.provider.lend(s.hash, s.id)).toEqual({ accessToken: lent.accessToken, version: 2 });
    expect(await outcomes()).toEqual({ refreshed: 1 });
    expect(s.smartcar.received).toEqual(['r-old']);
    // Written: this process no longer claims the connection, and has no background work left.
    expect((await s.provider.recoverPending()).busy).toBeUndefined();
    const t = Date.now();
    await s.provider.settle(10_000);
    expect(Date.now() - t).toBeLessThan(5_000);
  }, 30_000);

  test('the background writer gives up when its connection is gone, and at shutdown', async () => {
    const s = await setup(expired('old'));
    s.vault.failReplaces = 6;
    await s.provider.lend(s.hash, s.id);
    await redis.del(s.connKey); // signed out meanwhile
    await s.provider.settle(3_000);
    expect(s.vault.replaceCalls).toBe(7); // one failed, one found it gone: no more
    expect(await redis.exists(s.connKey)).toBe(0);

    const d = await setup(expired('old'));
    d.vault.failReplaces = 100;
    await d.provider.lend(d.hash, d.id);
    await sleep(100);
    const calls = d.vault.replaceCalls;
    await d.provider.drain();
    expect(d.vault.replaceCalls - calls).toBeLessThanOrEqual(2); // a last try, not fifteen minutes of them
    expect(logged(d.logs, 'refreshed pair never stored')).toEqual([expect.objectContaining({ connectionId: d.id })]);
  });

  test('an error that is not an outage is not retried', async () => {
    const s = await setup(expired('old'));
    const bug = new Error('ERR wrong number of arguments');
    s.vault.replaceError = bug;
    await expect(s.provider.lend(s.hash, s.id)).rejects.toBe(bug);
    expect(s.vault.replaceCalls).toBe(1);
    expect(await outcomes()).toEqual({ failed: 1 });
  });

  test('a lost compare-and-set: the newer pair stored meanwhile wins, ours is discarded', async () => {
    const s = await setup(expired('old'));
    const gate = s.smartcar.gate(async () => pair('ours'));
    s.smartcar.then(gate.step);
    const lent = s.provider.lend(s.hash, s.id);
    await gate.reached;
    await new TokenVault(redis, new TokenCipher(key)).replace(s.hash, s.id, 1, pair('theirs'), Date.now());
    gate.open();
    expect(await lent).toEqual({ accessToken: 'a-theirs', version: 2 });
    expect(await new TokenVault(redis, new TokenCipher(key)).read(s.hash, s.id)).toMatchObject({ version: 2, pair: { accessToken: 'a-theirs' } });
    expect(logged(s.logs, 'a newer pair was already stored; discarding ours')).toEqual([expect.objectContaining({ connectionId: s.id })]);
    expect(await pendingIndex()).not.toContain(member(s));
    expect(await outcomes()).toEqual({});
  });

  test('the connection removed during the refresh: RECONNECT_REQUIRED, nothing written back', async () => {
    const s = await setup(expired('old'));
    const gate = s.smartcar.gate();
    s.smartcar.then(gate.step);
    const lent = s.provider.lend(s.hash, s.id);
    await gate.reached;
    await redis.del(s.connKey);
    gate.open();
    const err = await rejection(lent);
    expect(err.code).toBe('RECONNECT_REQUIRED');
    expect(err.message).toBe('This connection is gone. Connect the vehicle again.');
    expect(s.vault.replaceCalls).toBe(1);
    expect(await redis.exists(s.connKey)).toBe(0);
    expect(await outcomes()).toEqual({ reconnect: 1 });
  });
});

test('drain() during a recovery round: the refresh under way finishes, the round stops there', async () => {
  const { provider, smartcar, vault } = makeProvider();
  const first = await connection(expired('one'));
  const second = await connection(expired('two'));
  const plain = new TokenVault(redis, new TokenCipher(key));
  await plain.beginRefresh(first.hash, first.id, 1, Date.now() - 10);
  await plain.beginRefresh(second.hash, second.id, 1, Date.now());
  const gate = smartcar.gate();
  smartcar.then(gate.step);
  const round = provider.recoverPending();
  await gate.reached;
  const drained = provider.drain();
  gate.open();
  await drained;
  expect(await round).toEqual({ recovered: 1 });
  expect(smartcar.received).toEqual(['r-one']);
  expect(await redis.hget(second.connKey, 'rfv')).toBe('1'); // left for another instance
  // Closed: no more rounds, not even a look at the index.
  const looked = vault.pendingCalls;
  expect(await provider.recoverPending()).toEqual({});
  expect(vault.pendingCalls).toBe(looked);
});

test('settle() waits for a refresh in flight too; after drain() there is nothing left to wait for', async () => {
  const s = await setup(expired('old'));
  const gate = s.smartcar.gate();
  s.smartcar.then(gate.step);
  const lent = s.provider.lend(s.hash, s.id);
  await gate.reached;
  setTimeout(gate.open, 300);
  const started = Date.now();
  await s.provider.settle(3_000);
  expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  expect((await lent).version).toBe(2);

  const d = await setup(expired('old'));
  d.smartcar.then(d.smartcar.fail(timeout()));
  await rejection(d.provider.lend(d.hash, d.id)); // a retry scheduled
  await d.provider.drain();
  const t = Date.now();
  await d.provider.settle(1_000);
  expect(Date.now() - t).toBeLessThan(150);
});

test('settle() waits for the background work of this process, at most as long as it is told', async () => {
  const s = await setup(expired('old'));
  s.smartcar.then(s.smartcar.fail(timeout()));
  await rejection(s.provider.lend(s.hash, s.id));
  const started = Date.now();
  await s.provider.settle(100);
  expect(Date.now() - started).toBeLessThan(350); // gave up waiting
  await s.provider.settle(5_000);
  expect(await redis.hget(s.connKey, 'ver')).toBe('2'); // the retry had finished when it returned
  const lent: LentToken = await s.provider.lend(s.hash, s.id);
  expect(lent.version).toBe(2);
});

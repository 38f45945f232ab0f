import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { AppError, UpstreamError, type SmartcarDetails } from '../../../src/errors';
import { metrics } from '../../../src/metrics';
import { keys } from '../../../src/redis';
import type { RequestSession } from '../../../src/session/request-session';
import type { ConnectionRef, Session } from '../../../src/session/session.store';
import type { Credential, SignalAnswers, SmartcarPort } from '../../../src/smartcar/smartcar.port';
import type { Credentials, LentCredential } from '../../../src/tokens/credentials';
import { ReadingsCache, type CachedReading, type ReadingRef } from '../../../src/vehicles/readings.cache';
import type { Reading, SignalName } from '../../../src/vehicles/signal.registry';
import { SignalService, type SignalKey } from '../../../src/vehicles/signal.service';
import type { UnitSystem } from '../../../src/vehicles/signal.units';
import { counterDeltas } from '../../support/metrics';
import { privateKeyspace } from '../../support/redis';

/**
 * The signal service alone: the real readings cache on the test Redis, a recording Smartcar port and
 * a counting credential source in place of the real ones, and a frozen clock, so what each load costs
 * (cache reads, token reads, upstream requests) and when a cached reading is fresh enough are exact.
 * The whole path through GraphQL and the simulator is in vehicle-data.test.ts.
 */

const NOW = 1_800_000_000_000;
const { redis: keyspace } = privateKeyspace('ss');
let redis: Redis;
beforeAll(() => {
  redis = keyspace();
});
// Only Date is frozen: Redis and the loaders keep their real timers.
beforeEach(() => {
  jest.useFakeTimers({
    doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
    now: NOW,
  });
});
afterEach(() => {
  jest.useRealTimers();
});

const details = (type: string): SmartcarDetails => ({ type, code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null });

interface Call {
  token: string;
  vehicleId: string;
  signals: SignalName[];
  units: UnitSystem;
}

const v2 = (accessToken: string): Credential => ({ api: 2, accessToken });

/** Answers every signal with a numbered reading, or with the failure the test scripted for it. */
class Upstream {
  readonly calls: Call[] = [];
  readonly failures = new Map<SignalName, (token: string) => UpstreamError | null>();
  /** Signals left out of the answer (a bug in the adapter); `throws`: readSignals itself throws. */
  readonly omitted = new Set<SignalName>();
  throws: Error | null = null;
  private n = 0;
  readonly api = {
    readSignals: async (credential: Credential, vehicleId: string, signals: SignalName[], units: UnitSystem) => {
      const token = credential.api === 2 ? credential.accessToken : credential.appToken;
      this.calls.push({ token, vehicleId, signals, units });
      if (this.throws) throw this.throws;
      const out: SignalAnswers = new Map();
      for (const s of signals) if (!this.omitted.has(s)) out.set(s, this.failures.get(s)?.(token) ?? { values: { n: ++this.n, signal: s }, dataAge: null, fetchedAt: null });
      return out;
    },
  } as unknown as SmartcarPort;
}

/** Counts what the service asks of the credential source. */
class Tokens {
  lends = 0;
  renews: LentCredential[] = [];
  failure: AppError | null = null;
  readonly provider = {
    lend: async () => {
      this.lends++;
      if (this.failure) throw this.failure;
      return { credential: v2('t1'), version: 1 };
    },
    renew: async (_h: string, _c: ConnectionRef, rejected: LentCredential) => {
      this.renews.push(rejected);
      return { credential: v2('t2'), version: 2 };
    },
  } as unknown as Credentials;
}

/** Counts the cache's reads and the refs they asked for. */
class CountingCache extends ReadingsCache {
  reads: ReadingRef[][] = [];
  override get(...args: Parameters<ReadingsCache['get']>) {
    this.reads.push(args[2]);
    return super.get(...args);
  }
}

async function setup(options: { maxReadings?: number; scopes?: string[] | null; vehicles?: string[] } = {}) {
  const hash = randomBytes(32).toString('base64url');
  const ref: ConnectionRef = { id: randomBytes(6).toString('base64url'), userId: 'u', vehicleIds: options.vehicles ?? ['v1', 'v2'], scopes: options.scopes ?? null, createdAt: NOW };
  await redis.hset(keys.connection(hash, ref.id), 'ver', 1); // the cache writes only into a connection that exists
  const session: Session = { hash, createdAt: NOW, expiresAt: NOW + 86_400_000, cookieExpiresAt: NOW + 86_400_000, connections: [ref] };
  const upstream = new Upstream();
  const tokens = new Tokens();
  const cache = new CountingCache(redis);
  const service = new SignalService(tokens.provider, upstream.api, cache, { unitSystem: 'metric', defaultMaxAgeSec: 60, maxReadingsPerRequest: options.maxReadings ?? 25 });
  const rs = { require: async () => session } as unknown as RequestSession;
  /** One request: a fresh loader, all keys in one batch. */
  const load = (...ks: [string, SignalName, number][]) => {
    const loader = service.loader(rs);
    return Promise.all(ks.map(([vehicleId, signal, maxAge]) => loader.load({ vehicleId, signal, maxAge }).catch((e: unknown) => e as Error)));
  };
  const seed = (vehicleId: string, signal: SignalName, receivedAt: number, units: UnitSystem | null = 'metric') =>
    cache.set(hash, ref.id, [[{ vehicleId, signal, units }, { values: { cached: signal }, dataAge: null, fetchedAt: null, receivedAt }]]);
  return { service, upstream, tokens, cache, load, seed, hash, ref, session, rs };
}

const cacheCounts = counterDeltas(metrics.cache, 'result');
beforeEach(async () => {
  await cacheCounts();
});

const cached = (signal: SignalName): Partial<CachedReading> => ({ values: { cached: signal } });
const fetched = (signal: SignalName) => expect.objectContaining({ values: expect.objectContaining({ signal }) });

describe('maxAge', () => {
  test.each([
    [null, 60],
    [undefined, 60],
    [0, 0],
    [1, 1],
    [3600, 3600],
  ])('%s → %i s', (given, seconds) => {
    expect(new SignalService(null as never, null as never, null as never, { unitSystem: 'metric', defaultMaxAgeSec: 60, maxReadingsPerRequest: 1 }).maxAge(given)).toBe(seconds);
  });
  test.each([-1, 1.5, Number.NaN])('%s is refused', (given) => {
    const service = new SignalService(null as never, null as never, null as never, { unitSystem: 'metric', defaultMaxAgeSec: 60, maxReadingsPerRequest: 1 });
    expect(() => service.maxAge(given)).toThrow(new AppError('BAD_USER_INPUT', 'maxAge: a number of seconds, 0 or more'));
  });
});

describe('when a cached reading is fresh enough', () => {
  test.each([
    ['received exactly maxAge ago', 10_000, 10, 'cache'],
    ['received 1 ms more than maxAge ago', 10_001, 10, 'upstream'],
    ['received just now, maxAge 0', 0, 0, 'upstream'],
    ['received a second ago, maxAge 0', 1_000, 0, 'upstream'],
    ['received an hour ago, maxAge 3600', 3_600_000, 3600, 'cache'],
    ['received an hour and a second ago, maxAge 3600', 3_601_000, 3600, 'upstream'],
  ])('%s: from the %s', async (_what, ageMs, maxAge, from) => {
    const s = await setup();
    await s.seed('v1', 'odometer', NOW - ageMs);
    const [r] = await s.load(['v1', 'odometer', maxAge]);
    if (from === 'cache') {
      expect(r).toMatchObject(cached('odometer'));
      expect(s.upstream.calls).toEqual([]);
      expect(s.tokens.lends).toBe(0); // a cache hit does not even read the token
      expect(await cacheCounts()).toEqual({ hit: 1 });
    } else {
      expect(r).toEqual(fetched('odometer'));
      expect(s.upstream.calls).toEqual([{ token: 't1', vehicleId: 'v1', signals: ['odometer'], units: 'metric' }]);
      expect(s.tokens.lends).toBe(1);
      expect(await cacheCounts()).toEqual({ miss: 1 });
    }
  });

  test('a reading asked only with maxAge 0 is not read from the cache; with a wider alias it is, and that alias is served from it', async () => {
    const s = await setup();
    await s.seed('v1', 'odometer', NOW - 5_000);
    await s.load(['v1', 'odometer', 0]);
    expect(s.cache.reads).toEqual([]);
    expect(s.tokens.lends).toBe(1); // once, early, and that token is the one used

    const w = await setup();
    await w.seed('v1', 'odometer', NOW - 5_000);
    const [fresh, wide] = await w.load(['v1', 'odometer', 0], ['v1', 'odometer', 60]);
    expect(w.cache.reads).toEqual([[{ vehicleId: 'v1', signal: 'odometer', units: 'metric' }]]);
    expect(fresh).toEqual(fetched('odometer'));
    expect(wide).toEqual(fetched('odometer')); // the request sees one value of a reading
    expect(w.upstream.calls).toHaveLength(1);
    expect(w.tokens.lends).toBe(1);
  });

  test('what was fetched is cached with the time it was received, and serves the next request', async () => {
    const s = await setup();
    const [first] = await s.load(['v1', 'battery', 60]);
    expect(first).toEqual(fetched('battery'));
    await new Promise((r) => setTimeout(r, 50)); // the cache write is not awaited
    const raw = JSON.parse((await redis.hget(keys.connection(s.hash, s.ref.id), 'r2:v1:metric:battery'))!) as CachedReading;
    expect(raw).toEqual({ ...(first as Reading), receivedAt: NOW });
    const [second] = await s.load(['v1', 'battery', 60]);
    expect(second).toEqual(raw);
    expect(s.upstream.calls).toHaveLength(1);
    expect(s.tokens.lends).toBe(1);
  });
});

describe('permanent readings (VIN, attributes)', () => {
  test.each(['vin', 'attributes'] as const)('%s with maxAge 0 is served from the cache, however old, at no cost', async (signal) => {
    const s = await setup();
    await s.seed('v1', signal, NOW - 90 * 86_400_000, null);
    const [r] = await s.load(['v1', signal, 0]);
    expect(r).toMatchObject(cached(signal));
    expect(s.upstream.calls).toEqual([]);
    expect(s.tokens.lends).toBe(0);
    expect(await cacheCounts()).toEqual({ hit: 1 });
  });

  test('fetched once, then held in process: later requests read neither Redis nor Smartcar', async () => {
    const s = await setup();
    const [vin, odo] = await s.load(['v1', 'vin', 0], ['v1', 'odometer', 60]);
    expect(vin).toEqual(fetched('vin'));
    expect(odo).toEqual(fetched('odometer'));
    expect(s.upstream.calls).toEqual([{ token: 't1', vehicleId: 'v1', signals: ['vin', 'odometer'], units: 'metric' }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(await redis.hget(keys.connection(s.hash, s.ref.id), 'r2:v1:vin')).not.toBeNull(); // no units in a permanent field

    s.cache.reads = [];
    const [again] = await s.load(['v1', 'vin', 0]);
    expect(again).toEqual({ ...(vin as Reading), receivedAt: NOW });
    expect(s.cache.reads).toEqual([]);
    expect(s.upstream.calls).toHaveLength(1);

    // Read from Redis once (another instance fetched it), then from memory.
    const t = await setup();
    await t.seed('v2', 'vin', NOW - 1_000, null);
    await t.load(['v2', 'vin', 0]);
    await t.load(['v2', 'vin', 0]);
    expect(t.cache.reads).toEqual([[{ vehicleId: 'v2', signal: 'vin', units: null }]]);
    expect(t.upstream.calls).toEqual([]);
  });
});

describe('the billing cap: distinct (vehicle, signal) readings per request', () => {
  test('exactly the cap is served; aliases of one reading count once', async () => {
    const s = await setup({ maxReadings: 3 });
    const results = await s.load(['v1', 'odometer', 0], ['v1', 'odometer', 60], ['v1', 'battery', 0], ['v2', 'odometer', 0]);
    for (const r of results) expect(r).not.toBeInstanceOf(Error);
    expect(s.upstream.calls).toHaveLength(2);
  });

  test('one more than the cap: BAD_USER_INPUT for the batch, nothing spent', async () => {
    const s = await setup({ maxReadings: 3 });
    const results = await s.load(['v1', 'odometer', 0], ['v1', 'battery', 0], ['v2', 'odometer', 0], ['v2', 'battery', 0]);
    for (const r of results) {
      expect(r).toBeInstanceOf(AppError);
      expect((r as AppError).code).toBe('BAD_USER_INPUT');
      expect((r as AppError).message).toBe('This request asks for 4 vehicle readings; the limit is 3. Ask for fewer vehicles or fields.');
    }
    expect(s.upstream.calls).toEqual([]);
    expect(s.tokens.lends).toBe(0);
  });

  test('counted over the whole request, across batches', async () => {
    const s = await setup({ maxReadings: 2 });
    const loader = s.service.loader(s.rs);
    const key = (vehicleId: string, signal: SignalName): SignalKey => ({ vehicleId, signal, maxAge: 0 });
    await expect(loader.loadMany([key('v1', 'odometer'), key('v1', 'battery')])).resolves.toEqual([fetched('odometer'), fetched('battery')]);
    const [late] = await loader.loadMany([key('v2', 'odometer')]);
    expect((late as AppError).code).toBe('BAD_USER_INPUT');
    expect(s.upstream.calls).toHaveLength(1);
  });
});

describe('what each load costs, and what fails', () => {
  test('one upstream request per vehicle, with all its signals, and one credential for all of them', async () => {
    const s = await setup();
    const results = await s.load(['v1', 'odometer', 0], ['v2', 'battery', 0], ['v1', 'location', 0], ['v1', 'odometer', 0]);
    expect(results).toEqual([fetched('odometer'), fetched('battery'), fetched('location'), fetched('odometer')]);
    expect(s.upstream.calls.map((c) => [c.vehicleId, c.signals])).toEqual([
      ['v1', ['odometer', 'location']],
      ['v2', ['battery']],
    ]);
    expect(s.tokens.lends).toBe(1);
    expect(await cacheCounts()).toEqual({ miss: 3 });
  });

  test('a vehicle not in the session is NOT_FOUND; a permission not granted is PERMISSION_DENIED; neither costs anything', async () => {
    const s = await setup({ scopes: ['read_odometer'] });
    const [missing, denied] = await s.load(['nope', 'odometer', 0], ['v1', 'location', 0]);
    expect(missing).toEqual(new AppError('NOT_FOUND', 'No such vehicle in this session.'));
    expect(denied).toEqual(new AppError('PERMISSION_DENIED', 'The driver did not grant read_location.'));
    expect((denied as AppError).extensions).toEqual({ scope: 'read_location' });
    expect(s.upstream.calls).toEqual([]);
    expect(s.tokens.lends).toBe(0);
    expect(s.cache.reads).toEqual([]);
    const [granted] = await s.load(['v1', 'odometer', 0]);
    expect(granted).toEqual(fetched('odometer'));
  });

  test('signals Smartcar answered 401 to are retried once, alone, with a renewed credential', async () => {
    const s = await setup();
    s.upstream.failures.set('odometer', (token) => (token === 't1' ? new UpstreamError('response', 401, details('AUTHENTICATION')) : null));
    const [odo, loc] = await s.load(['v1', 'odometer', 0], ['v1', 'location', 0]);
    expect(odo).toEqual(fetched('odometer'));
    expect(loc).toEqual(fetched('location'));
    expect(s.upstream.calls.map((c) => [c.token, c.signals])).toEqual([
      ['t1', ['odometer', 'location']],
      ['t2', ['odometer']],
    ]);
    expect(s.tokens.renews).toEqual([{ credential: v2('t1'), version: 1 }]);
  });

  test('a failed reading is its mapped error and is never cached; the rest resolves', async () => {
    const s = await setup();
    s.upstream.failures.set('battery', () => new UpstreamError('response', 409, details('VEHICLE_STATE')));
    const [battery, odo] = await s.load(['v1', 'battery', 60], ['v1', 'odometer', 60]);
    expect((battery as AppError).code).toBe('VEHICLE_STATE');
    expect(odo).toEqual(fetched('odometer'));
    await new Promise((r) => setTimeout(r, 50));
    expect(await redis.hget(keys.connection(s.hash, s.ref.id), 'r2:v1:metric:battery')).toBeNull();
    s.upstream.failures.clear();
    await s.load(['v1', 'battery', 60]);
    expect(s.upstream.calls).toHaveLength(2);
    expect(s.tokens.renews).toEqual([]);
  });

  test('a bug below (readSignals throwing, or a signal left unanswered) is INTERNAL_SERVER_ERROR, masked', async () => {
    const s = await setup();
    s.upstream.throws = new TypeError('bug');
    const [a, b] = await s.load(['v1', 'odometer', 0], ['v2', 'odometer', 0]);
    for (const r of [a, b]) expect(r).toEqual(new AppError('INTERNAL_SERVER_ERROR', 'Internal server error'));
    s.upstream.throws = null;
    s.upstream.omitted.add('battery');
    const [battery, odo] = await s.load(['v1', 'battery', 0], ['v1', 'odometer', 0]);
    expect(battery).toEqual(new AppError('INTERNAL_SERVER_ERROR', 'Internal server error'));
    expect(odo).toEqual(fetched('odometer'));
  });

  test('the connection’s token failing fails its keys with that error, and only its keys', async () => {
    const d = await setup({ scopes: ['read_odometer'] });
    d.tokens.failure = new AppError('RECONNECT_REQUIRED', 'gone');
    const [denied, odo] = await d.load(['v1', 'location', 0], ['v1', 'odometer', 0]);
    expect((denied as AppError).code).toBe('PERMISSION_DENIED'); // its own answer is kept
    expect(odo).toBe(d.tokens.failure);

    const s = await setup();
    s.tokens.failure = new AppError('RECONNECT_REQUIRED', 'gone', { connectUrl: 'https://x' });
    await s.seed('v2', 'odometer', NOW - 1_000);
    const [a, b, c] = await s.load(['v1', 'odometer', 0], ['v1', 'battery', 60], ['nope', 'odometer', 0]);
    expect(a).toBe(s.tokens.failure);
    expect(b).toBe(s.tokens.failure);
    expect((c as AppError).code).toBe('NOT_FOUND');
    const [hit] = await s.load(['v2', 'odometer', 60]); // a cache hit needs no token
    expect(hit).toMatchObject(cached('odometer'));
  });
});

describe('the readings cache: keyed by signal name, with a shape version', () => {
  test('an entry of the old shape (keyed by v2 path) or not a reading is a miss, and is fetched again', async () => {
    const s = await setup();
    const key = keys.connection(s.hash, s.ref.id);
    const old = JSON.stringify({ body: { distance: 1 }, dataAge: null, fetchedAt: null, receivedAt: NOW });
    await redis.hset(key, 'r:v1:metric:/odometer', old, 'r2:v1:metric:battery', '{"body":{}}', 'r2:v1:metric:location', 'not json');
    const results = await s.load(['v1', 'odometer', 60], ['v1', 'battery', 60], ['v1', 'location', 60]);
    expect(results).toEqual([fetched('odometer'), fetched('battery'), fetched('location')]);
    expect(s.upstream.calls).toEqual([{ token: 't1', vehicleId: 'v1', signals: ['odometer', 'battery', 'location'], units: 'metric' }]);
    expect(await cacheCounts()).toEqual({ miss: 3 });
    await new Promise((r) => setTimeout(r, 50));
    expect(JSON.parse((await redis.hget(key, 'r2:v1:metric:odometer'))!)).toEqual({ values: { n: 1, signal: 'odometer' }, dataAge: null, fetchedAt: null, receivedAt: NOW });
  });

  test('forget removes every reading of the vehicle, of either shape, and nothing else', async () => {
    const s = await setup();
    const key = keys.connection(s.hash, s.ref.id);
    await redis.hset(key, 'r:v1:/vin', '{}', 'r:v1:metric:/odometer', '{}', 'r2:v1:vin', '{}', 'r2:v1:imperial:fuel', '{}', 'r2:v2:vin', '{}', 'r:v2:/vin', '{}');
    await s.cache.forget(s.hash, s.ref.id, 'v1');
    expect((await redis.hkeys(key)).sort()).toEqual(['r2:v2:vin', 'r:v2:/vin', 'ver']);
  });

  test('invalidate removes the signals named, in both unit systems', async () => {
    const s = await setup();
    const key = keys.connection(s.hash, s.ref.id);
    await redis.hset(key, 'r2:v1:metric:charge', '{}', 'r2:v1:imperial:battery', '{}', 'r2:v1:metric:odometer', '{}', 'r2:v2:metric:charge', '{}');
    await s.cache.invalidate(s.hash, s.ref.id, 'v1', ['charge', 'battery']);
    expect((await redis.hkeys(key)).sort()).toEqual(['r2:v1:metric:odometer', 'r2:v2:metric:charge', 'ver']);
  });
});

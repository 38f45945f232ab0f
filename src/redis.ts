import Redis, { Cluster, type RedisOptions } from 'ioredis';
import { serviceUnavailable, StartupError } from './errors';
import type { Logger } from './logger';
import { metrics } from './metrics';

/** A single Redis (or Sentinel-managed) or a Redis Cluster: the gateway uses what both offer. */
export type RedisClient = Redis | Cluster;

export interface RedisSettings {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  clusterNodes: { host: string; port: number }[] | null;
  sentinel: { sentinels: { host: string; port: number }[]; name: string } | null;
}

/**
 * Redis connection and the boundary that turns "Redis is not there" into SERVICE_UNAVAILABLE.
 * No offline queue: while Redis is down a command fails at once instead of piling up in memory,
 * and every command is bounded by `commandTimeout`, so a hung Redis cannot hang a request.
 */

export function createRedis(settings: RedisSettings): RedisClient {
  const options: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: 2_000,
    // Reconnect forever, backing off to 2 s: the gateway recovers by itself when Redis returns.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  };
  if (settings.clusterNodes) {
    return new Cluster(settings.clusterNodes, {
      keyPrefix: settings.keyPrefix,
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
      redisOptions: { ...options, keyPrefix: undefined },
    });
  }
  if (settings.sentinel) {
    const url = new URL(settings.url);
    return new Redis({
      ...options,
      keyPrefix: settings.keyPrefix,
      sentinels: settings.sentinel.sentinels,
      name: settings.sentinel.name,
      ...(url.password && { password: decodeURIComponent(url.password) }),
      ...(url.username && { username: decodeURIComponent(url.username) }),
    });
  }
  return new Redis(settings.url, { ...options, keyPrefix: settings.keyPrefix });
}

/** Connects once, failing fast with one clear line when Redis is not there. */
export async function connectRedis(options: RedisSettings, logger: Logger): Promise<RedisClient> {
  const redis = createRedis(options);
  // Until the first connection, an error is the start-up failure's cause, not a warning: ioredis
  // emits the socket's error (ECONNREFUSED, ENOTFOUND, NOAUTH…) and then rejects connect() with a
  // bare "Connection is closed", so the cause is kept for the one line below.
  let cause: Error | null = null;
  const keepCause = (err: Error) => void (cause = err);
  redis.on('error', keepCause);
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const where = options.clusterNodes
      ? `the cluster ${options.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')} (REDIS_CLUSTER_NODES)`
      : options.sentinel
        ? `the sentinels of "${options.sentinel.name}" (REDIS_SENTINELS)`
        : `${new URL(options.url).protocol}//${new URL(options.url).host} (REDIS_URL)`;
    // A name with two addresses (localhost: ::1 and 127.0.0.1) fails with an AggregateError whose
    // message is empty; its code still says why.
    const describe = (e: unknown) => (e instanceof Error ? e.message || String((e as { code?: unknown }).code ?? e.name) : String(e));
    const reason = describe(cause ?? err);
    const fix = options.clusterNodes ? 'REDIS_CLUSTER_NODES' : options.sentinel ? 'REDIS_SENTINELS' : 'REDIS_URL';
    throw new StartupError(`Cannot reach Redis at ${where}: ${reason}. Start Redis there, or set ${fix} to where it runs.`);
  }
  redis.off('error', keepCause);
  redis.on('error', (err: Error) => logger.warn({ err: { name: err.name, message: err.message } }, 'redis connection error'));
  return redis;
}

/** Replies that mean "not available right now" rather than "your command is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|BUSY|NOREPLICAS)/;

export function isRedisUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'ReplyError') return UNAVAILABLE_REPLY.test(e.message ?? '');
  return (
    e.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND/.test(e.message ?? '')
  );
}

/** Runs Redis work; an outage becomes SERVICE_UNAVAILABLE, anything else propagates unchanged. */
export async function redisCall<T>(work: () => Promise<T>): Promise<T> {
  const end = metrics.redisLatency.startTimer();
  try {
    const result = await work();
    end({ outcome: 'ok' });
    return result;
  } catch (err) {
    end({ outcome: 'error' });
    if (isRedisUnavailable(err)) throw serviceUnavailable(err);
    throw err;
  }
}

/** The key prefix the client adds (scripts that build key names, and SCAN, need it). */
export function prefixOf(redis: RedisClient): string {
  return redis.options.keyPrefix ?? '';
}

/** Every master's keys matching `pattern` (SCAN runs per node on a cluster). */
export async function* scanKeys(redis: RedisClient, pattern: string): AsyncGenerator<string[]> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    for await (const batch of node.scanStream({ match: pattern, count: 500 }) as AsyncIterable<string[]>) yield batch;
  }
}

/**
 * Key layout. Everything of one session shares the `{hash}` tag, so multi-key transactions and locks
 * stay in one slot on Redis Cluster. Keys hold only the SHA-256 of the session token.
 */
export const keys = {
  session: (h: string) => `sess:{${h}}`,
  /** Sorted set: state → expiry (epoch ms). */
  states: (h: string) => `sess:{${h}}:states`,
  connection: (h: string, connectionId: string) => `sess:{${h}}:conn:${connectionId}`,
  refreshLock: (h: string, connectionId: string) => `sess:{${h}}:conn:${connectionId}:lock`,
  refreshCooldown: (h: string, connectionId: string) => `sess:{${h}}:conn:${connectionId}:cooldown`,
  /** The session's rate-limit counter (rate-limiter-flexible writes `<keyPrefix>:<key>`). */
  sessionRate: (h: string) => `rl:session:{${h}}`,
  /** The sweep's own lock: one instance sweeps at a time. */
  sweepLock: () => 'sweep:lock',
};

/** `sess:{<hash>}:conn:<id>` exactly (not its lock or cooldown keys). */
export const CONNECTION_KEY = /^sess:\{([A-Za-z0-9_-]{43})\}:conn:([A-Za-z0-9_-]+)$/;

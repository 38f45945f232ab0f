import Redis from 'ioredis';
import { serviceUnavailable, StartupError } from './errors';
import type { Logger } from './logger';

/**
 * Redis connection and the boundary that turns "Redis is not there" into SERVICE_UNAVAILABLE.
 * No offline queue: while Redis is down a command fails at once instead of piling up in memory,
 * and every command is bounded by `commandTimeout`, so a hung Redis cannot hang a request.
 */

export function createRedis(url: string, keyPrefix: string): Redis {
  return new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    connectTimeout: 2_000,
    // Reconnect forever, backing off to 2 s: the gateway recovers by itself when Redis returns.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
}

/** Connects once, failing fast with one clear line when Redis is not there. */
export async function connectRedis(options: { url: string; keyPrefix: string }, logger: Logger): Promise<Redis> {
  const redis = createRedis(options.url, options.keyPrefix);
  redis.on('error', (err: Error) => logger.warn({ err: { name: err.name, message: err.message } }, 'redis connection error'));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const where = new URL(options.url);
    throw new StartupError(`Cannot reach Redis at ${where.protocol}//${where.host} (REDIS_URL): ${(err as Error).message}`);
  }
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
  try {
    return await work();
  } catch (err) {
    if (isRedisUnavailable(err)) throw serviceUnavailable(err);
    throw err;
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
  /** The sweep's own lock: one instance sweeps at a time. */
  sweepLock: () => 'sweep:lock',
};

/** `sess:{<hash>}:conn:<id>` exactly (not its lock or cooldown keys). */
export const CONNECTION_KEY = /^sess:\{([A-Za-z0-9_-]{43})\}:conn:([A-Za-z0-9_-]+)$/;

import type { RedisClient } from '../redis';
import type { Logger } from '../logger';
import { CONNECTION_KEY, keys, redisCall, scanKeys } from '../redis';
import { acquireLock, releaseLock } from './redis-lock';
import type { TokenProvider } from './token.provider';

/**
 * Keeps idle connections alive: Smartcar refresh tokens die after 60 days unused, so pairs issued
 * longer ago than `maxAgeMs` are refreshed (through the same locked, compare-and-set path as any
 * refresh). One instance sweeps at a time (a Redis lock); a sweep cut short by a crash simply runs
 * again next time. On Redis Cluster every master is scanned.
 */

export interface SweepResult {
  /** False when another instance holds the sweep lock. */
  ran: boolean;
  scanned: number;
  refreshed: number;
  failed: number;
}

const SWEEP_LOCK_TTL_MS = 15 * 60 * 1000;
/** Refreshes in parallel at most this many: the sweep must not become a burst at Smartcar. */
const BATCH = 4;

export async function sweepIdleConnections(
  deps: { redis: RedisClient; keyPrefix: string; tokens: TokenProvider; logger: Logger },
  maxAgeMs: number,
  now: number = Date.now(),
): Promise<SweepResult> {
  const { redis, keyPrefix, tokens, logger } = deps;
  const owner = await acquireLock(redis, keys.sweepLock(), SWEEP_LOCK_TTL_MS);
  if (!owner) return { ran: false, scanned: 0, refreshed: 0, failed: 0 };
  const result: SweepResult = { ran: true, scanned: 0, refreshed: 0, failed: 0 };
  try {
    // SCAN ignores ioredis' keyPrefix: match and strip it ourselves.
    for await (const batch of scanKeys(redis, `${keyPrefix}sess:*:conn:*`)) {
      const due: [string, string][] = [];
      for (const full of batch) {
        const m = CONNECTION_KEY.exec(full.slice(keyPrefix.length));
        if (!m) continue;
        result.scanned++;
        const iat = Number(await redisCall(() => redis.hget(keys.connection(m[1]!, m[2]!), 'iat')));
        if (iat > 0 && now - iat >= maxAgeMs) due.push([m[1]!, m[2]!]);
      }
      for (let i = 0; i < due.length; i += BATCH) {
        await Promise.all(
          due.slice(i, i + BATCH).map(([hash, id]) =>
            tokens.refreshIdle(hash, id).then(
              () => result.refreshed++,
              (err: unknown) => {
                result.failed++;
                logger.warn({ connectionId: id, code: (err as { code?: string }).code }, 'sweep: refresh failed');
              },
            ),
          ),
        );
      }
    }
  } finally {
    await releaseLock(redis, keys.sweepLock(), owner).catch(() => undefined);
  }
  logger.info(result, 'idle-connection sweep done');
  return result;
}

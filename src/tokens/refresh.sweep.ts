import type { RedisClient } from '../redis';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import { CONNECTION_KEY, keys, redisCall, scanKeys } from '../redis';
import { withLease } from './redis-lock';
import type { TokenProvider } from './token.provider';

/**
 * Keeps idle connections alive: Smartcar refresh tokens die after 60 days unused, so pairs issued
 * longer ago than `maxAgeMs` are refreshed (through the same locked, compare-and-set path as any
 * refresh). It first finishes refreshes of unknown outcome that a dead process left behind. One
 * instance sweeps at a time, under a lease that a dead sweeper stops renewing, so the next sweep can
 * run seconds later; a sweep cut short (stop, crash, lost lease) simply runs again next time. On
 * Redis Cluster every master is scanned.
 */

export interface SweepResult {
  /** False when another instance holds the sweep lock. */
  ran: boolean;
  scanned: number;
  /** Refreshes of unknown outcome (left by this or a dead process) finished first. */
  recovered: number;
  refreshed: number;
  /** Connections Smartcar or the keyring no longer accepts: removed, the driver must connect again. */
  removed: number;
  /** Passing failures (Smartcar or Redis): the connection is tried again next time. */
  failed: number;
}

/** The sweep's lease: renewed every third of it while the sweep runs. */
const SWEEP_LEASE_MS = 10_000;
/** Refreshes in parallel at most this many: the sweep must not become a burst at Smartcar. */
const BATCH = 4;

export async function sweepIdleConnections(
  deps: { redis: RedisClient; keyPrefix: string; tokens: TokenProvider; logger: Logger },
  maxAgeMs: number,
  options: { now?: number; signal?: AbortSignal } = {},
): Promise<SweepResult> {
  const { redis, keyPrefix, tokens, logger } = deps;
  const now = options.now ?? Date.now();
  const result: SweepResult = { ran: true, scanned: 0, recovered: 0, refreshed: 0, removed: 0, failed: 0 };
  const leased = await withLease(redis, keys.sweepLock(), SWEEP_LEASE_MS, async (lost) => {
    const stopped = () => lost.aborted || options.signal?.aborted === true;
    result.recovered = (await tokens.recoverPending()).recovered ?? 0;
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
        if (stopped()) return;
        await Promise.all(
          due.slice(i, i + BATCH).map(([hash, id]) =>
            tokens.refreshIdle(hash, id).then(
              () => result.refreshed++,
              (err: unknown) => {
                if (err instanceof AppError && err.code === 'RECONNECT_REQUIRED') return void result.removed++;
                result.failed++;
                logger.warn({ connectionId: id, code: (err as { code?: string }).code }, 'sweep: refresh failed');
              },
            ),
          ),
        );
      }
      if (stopped()) return;
    }
  });
  if (!leased) return { ...result, ran: false };
  logger.info(result, 'idle-connection sweep done');
  return result;
}

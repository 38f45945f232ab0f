import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis';
import { redisCall } from '../redis';

/**
 * A lock with an owner: `SET key owner NX PX ttl`, released by compare-and-delete so a holder whose
 * lock already expired can never release the next holder's. What it does not guarantee: a holder
 * that outlives the TTL (a stalled process) may overlap the next one; callers protect their writes
 * with compare-and-set as well.
 */

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** The owner token when acquired, null when someone else holds it. */
export async function acquireLock(redis: RedisClient, key: string, ttlMs: number): Promise<string | null> {
  const owner = randomBytes(16).toString('base64url');
  const ok = await redisCall(() => redis.set(key, owner, 'PX', ttlMs, 'NX'));
  return ok === 'OK' ? owner : null;
}

export async function releaseLock(redis: RedisClient, key: string, owner: string): Promise<boolean> {
  return Number(await redisCall(() => redis.eval(RELEASE, 1, key, owner))) === 1;
}

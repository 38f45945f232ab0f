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

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
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

/** Extends the lock by `ttlMs` if `owner` still holds it; false when it was lost. */
export async function renewLock(redis: RedisClient, key: string, owner: string, ttlMs: number): Promise<boolean> {
  return Number(await redisCall(() => redis.eval(RENEW, 1, key, owner, ttlMs))) === 1;
}

/**
 * Runs `work` under a lease: a short lock renewed every third of its TTL while `work` runs, for work of
 * unbounded length (the sweep). A holder that dies stops renewing, so its lock is gone within `ttlMs`;
 * a renewal that fails (lost lease, Redis down) aborts `signal`, and `work` should stop at its next
 * step. Returns null when someone else holds the lock.
 */
export async function withLease<T>(redis: RedisClient, key: string, ttlMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<{ result: T } | null> {
  const owner = await acquireLock(redis, key, ttlMs);
  if (!owner) return null;
  const lost = new AbortController();
  const renewal = setInterval(() => {
    renewLock(redis, key, owner, ttlMs).then(
      (held) => held || lost.abort(),
      () => lost.abort(),
    );
  }, Math.max(50, Math.floor(ttlMs / 3)));
  try {
    return { result: await work(lost.signal) };
  } finally {
    clearInterval(renewal);
    await releaseLock(redis, key, owner).catch(() => undefined); // else it expires within ttlMs
  }
}

import { ErrorsAreMissesCache, type KeyValueCache, type KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import type { Logger } from '../logger';
import { keys, type RedisClient } from '../redis';

/**
 * Apollo's KeyValueCache in Redis, for automatic persisted queries: a document registered through
 * one gateway instance is found by every other (Apollo iOS/Kotlin send the hash alone, often as GET).
 * Every entry has a TTL (the default when Apollo gives none), so a document no client asks for any
 * more leaves Redis by itself. What can go wrong: with Redis unreachable a read fails; apqCache()
 * makes that a miss (the client then sends the document's text), and a failed write only means the
 * next instance asks for the text again. Registration is bounded by the rate limits and the TTL.
 */
export class RedisKeyValueCache implements KeyValueCache<string> {
  constructor(
    private readonly redis: RedisClient,
    private readonly defaultTtlSec: number,
  ) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(keys.graphqlDocument(key))) ?? undefined;
  }

  async set(key: string, value: string, options?: KeyValueCacheSetOptions): Promise<void> {
    const ttl = options?.ttl ?? this.defaultTtlSec;
    // Never without an expiry (the Redis runs noeviction: a key without one would stay forever).
    await this.redis.set(keys.graphqlDocument(key), value, 'EX', Math.max(1, Math.ceil(ttl > 0 ? ttl : this.defaultTtlSec)));
  }

  async delete(key: string): Promise<boolean> {
    return (await this.redis.del(keys.graphqlDocument(key))) > 0;
  }
}

/** The cache Apollo gets: Redis, a failed read counted as a miss (with one warning line). */
export function apqCache(redis: RedisClient, defaultTtlSec: number, logger: Logger): KeyValueCache<string> {
  const warn = (message: unknown) => logger.warn({ err: { message: String(message) } }, 'persisted-query cache read failed: treated as a miss');
  const quiet = () => undefined;
  return new ErrorsAreMissesCache(new RedisKeyValueCache(redis, defaultTtlSec), { debug: quiet, info: quiet, warn, error: warn });
}

import type { RedisClient } from '../redis';
import { keys, redisCall } from '../redis';
import type { TokenPair } from '../smartcar/smartcar.client';
import type { TokenCipher } from './token.cipher';

/**
 * The token pairs of connections, sealed with AES-256-GCM in the connection's hash: `pair`, `ver`
 * (incremented by every write, the basis of compare-and-set) and `iat` (when the pair was issued).
 * Nothing outside this module sees a sealed or raw pair in Redis.
 */

export interface StoredPair {
  pair: TokenPair;
  version: number;
  /** Epoch ms at which Smartcar issued this pair. */
  issuedAt: number;
}

export type ReplaceResult = { written: true; version: number } | { written: false; reason: 'stale' | 'gone' };

/**
 * KEYS: connection, session. ARGV: expected version, sealed pair, issued at, pair expiry (ms).
 * Writes only over the version that was refreshed: an older writer can never overwrite a newer pair.
 * Stretches the session's life to the new refresh token's.
 */
const REPLACE = `
local v = redis.call('HGET', KEYS[1], 'ver')
if not v then return -1 end
if tonumber(v) ~= tonumber(ARGV[1]) then return 0 end
local nv = tonumber(v) + 1
redis.call('HSET', KEYS[1], 'pair', ARGV[2], 'ver', nv, 'iat', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local exp = tonumber(redis.call('HGET', KEYS[2], 'expires') or '0')
  if tonumber(ARGV[4]) > exp then
    redis.call('HSET', KEYS[2], 'expires', ARGV[4])
    redis.call('PEXPIREAT', KEYS[2], ARGV[4])
  end
end
return nv`;

/** KEYS: connection, session. ARGV: expected version, the session's field for it. */
const REMOVE = `
local v = redis.call('HGET', KEYS[1], 'ver')
if v and tonumber(v) ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1`;

export class TokenVault {
  constructor(
    private readonly redis: RedisClient,
    private readonly cipher: TokenCipher,
  ) {}

  /** The connection key is the additional data: a sealed pair only opens where it was written. */
  seal(sessionHash: string, connectionId: string, pair: TokenPair): string {
    return this.cipher.seal(JSON.stringify(pair), keys.connection(sessionHash, connectionId));
  }

  async read(sessionHash: string, connectionId: string): Promise<StoredPair | null> {
    const key = keys.connection(sessionHash, connectionId);
    const [sealed, ver, iat] = await redisCall(() => this.redis.hmget(key, 'pair', 'ver', 'iat'));
    if (!sealed || !ver) return null;
    const pair = JSON.parse(this.cipher.open(sealed, key)) as TokenPair;
    return { pair, version: Number(ver), issuedAt: Number(iat ?? 0) };
  }

  /** Compare-and-set: writes `pair` only if the stored version is still `expectedVersion`. */
  async replace(sessionHash: string, connectionId: string, expectedVersion: number, pair: TokenPair, issuedAt: number): Promise<ReplaceResult> {
    const sealed = this.seal(sessionHash, connectionId, pair);
    const r = Number(
      await redisCall(() =>
        this.redis.eval(REPLACE, 2, keys.connection(sessionHash, connectionId), keys.session(sessionHash), expectedVersion, sealed, issuedAt, pair.refreshExpiresAt),
      ),
    );
    if (r > 0) return { written: true, version: r };
    return { written: false, reason: r === 0 ? 'stale' : 'gone' };
  }

  /** Deletes the connection (and its place in the session) if it still holds `expectedVersion`. */
  async removeIfVersion(sessionHash: string, connectionId: string, expectedVersion: number): Promise<boolean> {
    const r = await redisCall(() =>
      this.redis.eval(REMOVE, 2, keys.connection(sessionHash, connectionId), keys.session(sessionHash), expectedVersion, `c:${connectionId}`),
    );
    return Number(r) === 1;
  }
}

import type { RedisClient } from '../redis';
import { keys, redisCall } from '../redis';
import type { TokenPair } from '../smartcar/smartcar.port';
import type { TokenCipher } from './token.cipher';

/**
 * The token pairs of connections, sealed with AES-256-GCM in the connection's hash: `pair`, `ver`
 * (incremented by every write, the basis of compare-and-set), `iat` (when the pair was issued) and,
 * while a refresh of version `rfv` is in flight or its outcome is unknown, `rft` (when it was first
 * sent to Smartcar: Smartcar's grace window for the old refresh token starts no earlier). Nothing
 * outside this module sees a sealed or raw pair in Redis.
 */

export interface StoredPair {
  pair: TokenPair;
  version: number;
  /** Epoch ms at which Smartcar issued this pair. */
  issuedAt: number;
  /** Epoch ms a refresh of this version was first sent to Smartcar, when its outcome is not known yet. */
  pendingSince: number | null;
}

/** A refresh recorded in the pending index. */
export interface PendingRefresh {
  sessionHash: string;
  connectionId: string;
  version: number;
  member: string;
}

export type ReplaceResult = { written: true; version: number } | { written: false; reason: 'stale' | 'gone' };

/** A sealed pair that no configured key opens (the encryption key changed, or the value is damaged). */
export class UnreadablePairError extends Error {
  constructor(
    readonly version: number,
    options: { cause: unknown },
  ) {
    super('stored token pair cannot be opened', options);
    this.name = 'UnreadablePairError';
  }
}

/**
 * KEYS: connection, session. ARGV: expected version, sealed pair, issued at, pair expiry (ms).
 * Writes only over the version that was refreshed: an older writer can never overwrite a newer pair.
 * Ends the pending refresh, and stretches the session's life to the new refresh token's.
 */
const REPLACE = `
local v = redis.call('HGET', KEYS[1], 'ver')
if not v then return -1 end
if tonumber(v) ~= tonumber(ARGV[1]) then return 0 end
local nv = tonumber(v) + 1
redis.call('HSET', KEYS[1], 'pair', ARGV[2], 'ver', nv, 'iat', ARGV[3])
redis.call('HDEL', KEYS[1], 'rfv', 'rft')
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local exp = tonumber(redis.call('HGET', KEYS[2], 'expires') or '0')
  if tonumber(ARGV[4]) > exp then
    redis.call('HSET', KEYS[2], 'expires', ARGV[4])
    redis.call('PEXPIREAT', KEYS[2], ARGV[4])
  end
end
return nv`;

/**
 * KEYS: connection. ARGV: version about to be refreshed, now (ms). Records the refresh as in flight
 * and returns when it was first sent: an earlier attempt on the same version keeps its time, because
 * Smartcar's grace window started with it. -1: no connection; 0: the version moved.
 */
const BEGIN_REFRESH = `
local v = redis.call('HGET', KEYS[1], 'ver')
if not v then return -1 end
if tonumber(v) ~= tonumber(ARGV[1]) then return 0 end
if redis.call('HGET', KEYS[1], 'rfv') == v then return tonumber(redis.call('HGET', KEYS[1], 'rft')) end
redis.call('HSET', KEYS[1], 'rfv', v, 'rft', ARGV[2])
return tonumber(ARGV[2])`;

/** KEYS: connection. ARGV: version. Smartcar refused the refresh: nothing was rotated. */
const SETTLE = `
if redis.call('HGET', KEYS[1], 'rfv') == ARGV[1] then return redis.call('HDEL', KEYS[1], 'rfv', 'rft') end
return 0`;

/** KEYS: connection, session. ARGV: expected version, the session's field for it. */
const REMOVE = `
local v = redis.call('HGET', KEYS[1], 'ver')
if v and tonumber(v) ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1`;

const MEMBER = /^([A-Za-z0-9_-]{43})\/([A-Za-z0-9_-]+)\/(\d+)$/;

export class TokenVault {
  constructor(
    private readonly redis: RedisClient,
    private readonly cipher: TokenCipher,
  ) {}

  /** The connection key is the additional data: a sealed pair only opens where it was written. */
  seal(sessionHash: string, connectionId: string, pair: TokenPair): string {
    return this.cipher.seal(JSON.stringify(pair), keys.connection(sessionHash, connectionId));
  }

  /** The stored pair, null when there is none; throws UnreadablePairError when no key opens it. */
  async read(sessionHash: string, connectionId: string): Promise<StoredPair | null> {
    const key = keys.connection(sessionHash, connectionId);
    const [sealed, ver, iat, rfv, rft] = await redisCall(() => this.redis.hmget(key, 'pair', 'ver', 'iat', 'rfv', 'rft'));
    if (!sealed || !ver) return null;
    let pair: TokenPair;
    try {
      pair = JSON.parse(this.cipher.open(sealed, key)) as TokenPair;
    } catch (err) {
      throw new UnreadablePairError(Number(ver), { cause: err });
    }
    return { pair, version: Number(ver), issuedAt: Number(iat ?? 0), pendingSince: rfv === ver && rft ? Number(rft) : null };
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

  /**
   * Records, before Smartcar is called, that `version` is being refreshed: in the connection (the
   * truth) and in the pending index (where other instances look). Returns when the refresh of this
   * version was first sent, or null when the version moved or the connection is gone. Both writes
   * must succeed, or Smartcar must not be called: a rotation nobody can find again is a lost pair.
   */
  async beginRefresh(sessionHash: string, connectionId: string, version: number, now: number): Promise<number | null> {
    const member = `${sessionHash}/${connectionId}/${version}`;
    const [since] = await Promise.all([
      redisCall(() => this.redis.eval(BEGIN_REFRESH, 1, keys.connection(sessionHash, connectionId), version, now)),
      redisCall(() => this.redis.zadd(keys.refreshPending(), 'NX', now, member)),
    ]);
    const t = Number(since);
    return t > 0 ? t : null;
  }

  /** Smartcar answered and refused the refresh of `version`: nothing is pending any more. */
  async settleRefresh(sessionHash: string, connectionId: string, version: number): Promise<void> {
    await redisCall(() => this.redis.eval(SETTLE, 1, keys.connection(sessionHash, connectionId), version));
    await this.forgetPending(`${sessionHash}/${connectionId}/${version}`);
  }

  /** The oldest entries of the pending index. */
  async pending(limit: number): Promise<PendingRefresh[]> {
    const members = await redisCall(() => this.redis.zrange(keys.refreshPending(), 0, limit - 1));
    const out: PendingRefresh[] = [];
    for (const member of members) {
      const m = MEMBER.exec(member);
      if (m) out.push({ sessionHash: m[1]!, connectionId: m[2]!, version: Number(m[3]), member });
      else await this.forgetPending(member);
    }
    return out;
  }

  async forgetPending(member: string): Promise<void> {
    await redisCall(() => this.redis.zrem(keys.refreshPending(), member));
  }

  /** Deletes the connection (and its place in the session) if it still holds `expectedVersion`. */
  async removeIfVersion(sessionHash: string, connectionId: string, expectedVersion: number): Promise<boolean> {
    const r = await redisCall(() =>
      this.redis.eval(REMOVE, 2, keys.connection(sessionHash, connectionId), keys.session(sessionHash), expectedVersion, `c:${connectionId}`),
    );
    return Number(r) === 1;
  }
}

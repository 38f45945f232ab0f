import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../redis';
import { AppError, fromUpstream, UpstreamError } from '../errors';
import type { Logger } from '../logger';
import { metrics } from '../metrics';
import { isRedisUnavailable, keys, redisCall } from '../redis';
import type { SmartcarApi, TokenPair } from '../smartcar/smartcar.client';
import { acquireLock, releaseLock } from './redis-lock';
import type { StoredPair, TokenVault } from './token.vault';

/**
 * Lends a connection's access token to Smartcar calls and refreshes it transparently:
 * - before use when it expires within the margin, and once when Smartcar answers 401 to a token we
 *   thought valid (then the call is retried once);
 * - one refresh per connection at a time: in-process single-flight, plus a Redis lock with an owner
 *   across instances; whoever takes the lock re-reads the pair first (another instance may have
 *   refreshed it), waiters poll for the new version, bounded by the lock TTL;
 * - the new pair is written with compare-and-set over the version that was refreshed, retried if
 *   Redis fails; should that still fail, the old refresh token stays usable for Smartcar's grace
 *   window (about 60 s), which is how the next attempt recovers;
 * - `invalid_grant` is terminal (the connection is deleted, RECONNECT_REQUIRED with a fresh
 *   connectUrl); timeouts, network errors and 5xx are transient (the pair is kept, a short
 *   cooldown stops the gateway from hammering Smartcar).
 */

export interface RefreshOptions {
  marginSec: number;
  lockTtlMs: number;
  cooldownMs: number;
}

/** An access token on loan, with the version of the pair it came from. */
export interface LentToken {
  accessToken: string;
  version: number;
}

/** Makes a Connect URL for a session whose connection is gone (attached to RECONNECT_REQUIRED). */
export type ReconnectUrl = (sessionHash: string) => Promise<string>;

const WRITE_ATTEMPTS = 5;

const lend = (s: StoredPair): LentToken => ({ accessToken: s.pair.accessToken, version: s.version });

const gone = () => new AppError('RECONNECT_REQUIRED', 'This connection is gone. Connect the vehicle again.');

export class TokenProvider {
  private readonly inflight = new Map<string, Promise<StoredPair>>();

  constructor(
    private readonly vault: TokenVault,
    private readonly redis: RedisClient,
    private readonly smartcar: SmartcarApi,
    private readonly options: RefreshOptions,
    private readonly logger: Logger,
    private readonly reconnectUrl: ReconnectUrl,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs `call` with a valid access token; on a 401 refreshes once and retries once. */
  async withAccessToken<T>(sessionHash: string, connectionId: string, call: (accessToken: string) => Promise<T>): Promise<T> {
    const token = await this.lend(sessionHash, connectionId);
    try {
      return await call(token.accessToken);
    } catch (err) {
      if (!(err instanceof UpstreamError && err.isAuthentication)) throw err;
      const renewed = await this.renew(sessionHash, connectionId, token);
      return call(renewed.accessToken);
    }
  }

  /** A usable access token, refreshed first when it is about to expire. */
  async lend(sessionHash: string, connectionId: string): Promise<LentToken> {
    const stored = await this.vault.read(sessionHash, connectionId);
    if (!stored) throw gone();
    if (!this.expiring(stored)) return lend(stored);
    try {
      return lend(await this.refresh(sessionHash, connectionId, stored.version));
    } catch (err) {
      // Refreshing early failed for a passing reason, but the token still works: use it.
      if (err instanceof AppError && err.code === 'UPSTREAM_UNAVAILABLE' && stored.pair.expiresAt > this.now()) return lend(stored);
      throw err;
    }
  }

  /** Smartcar rejected `rejected` (401): a newer token, refreshing unless someone already did. */
  async renew(sessionHash: string, connectionId: string, rejected: LentToken): Promise<LentToken> {
    return lend(await this.refresh(sessionHash, connectionId, rejected.version));
  }

  /** Refreshes a pair regardless of its access token's expiry (the idle sweep). */
  async refreshIdle(sessionHash: string, connectionId: string): Promise<StoredPair> {
    const stored = await this.vault.read(sessionHash, connectionId);
    if (!stored) throw gone();
    return this.refresh(sessionHash, connectionId, stored.version);
  }

  private expiring(s: StoredPair): boolean {
    const lifetime = s.pair.expiresAt - s.issuedAt;
    // Never more than half the token's life, so very short-lived tokens are not refreshed on every use.
    const margin = Math.min(this.options.marginSec * 1000, lifetime > 0 ? lifetime / 2 : 0);
    return s.pair.expiresAt - this.now() <= margin;
  }

  /** A pair newer than `seenVersion`: single-flight within this process. */
  private async refresh(sessionHash: string, connectionId: string, seenVersion: number): Promise<StoredPair> {
    const key = `${sessionHash}/${connectionId}`;
    const running = this.inflight.get(key);
    if (running) {
      const result = await running;
      if (result.version > seenVersion) return result;
    }
    const attempt = this.refreshAcrossInstances(sessionHash, connectionId, seenVersion).finally(() => {
      if (this.inflight.get(key) === attempt) this.inflight.delete(key);
    });
    this.inflight.set(key, attempt);
    return attempt;
  }

  /** Takes the connection's Redis lock, or waits (bounded) for the instance that holds it. */
  private async refreshAcrossInstances(sessionHash: string, connectionId: string, seenVersion: number): Promise<StoredPair> {
    const lockKey = keys.refreshLock(sessionHash, connectionId);
    const deadline = this.now() + this.options.lockTtlMs + 1_000;
    for (;;) {
      const owner = await acquireLock(this.redis, lockKey, this.options.lockTtlMs);
      if (owner) {
        try {
          return await this.refreshHoldingLock(sessionHash, connectionId, seenVersion);
        } catch (err) {
          metrics.refreshes.inc({ outcome: err instanceof AppError && err.code === 'RECONNECT_REQUIRED' ? 'reconnect' : 'failed' });
          throw err;
        } finally {
          // Losing this release only delays the next refresh until the TTL ends.
          await releaseLock(this.redis, lockKey, owner).catch((err: unknown) => this.logger.warn({ err }, 'refresh lock release failed'));
        }
      }
      await sleep(40 + Math.random() * 60);
      const current = await this.vault.read(sessionHash, connectionId);
      if (!current) throw gone();
      if (current.version > seenVersion) {
        metrics.refreshes.inc({ outcome: 'reused' });
        return current;
      }
      if (this.now() > deadline) {
        throw new AppError('UPSTREAM_UNAVAILABLE', 'Refreshing the Smartcar token is taking too long. Try again shortly.');
      }
    }
  }

  private async refreshHoldingLock(sessionHash: string, connectionId: string, seenVersion: number): Promise<StoredPair> {
    const current = await this.vault.read(sessionHash, connectionId);
    if (!current) throw gone();
    if (current.version > seenVersion) {
      metrics.refreshes.inc({ outcome: 'reused' }); // another instance refreshed while we waited
      return current;
    }

    const cooldownKey = keys.refreshCooldown(sessionHash, connectionId);
    if (await redisCall(() => this.redis.exists(cooldownKey))) {
      throw new AppError('UPSTREAM_UNAVAILABLE', 'Smartcar failed a moment ago. Try again shortly.');
    }

    let fresh: TokenPair;
    try {
      fresh = await this.smartcar.refreshTokens(current.pair.refreshToken);
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      const mapped = fromUpstream(err, 'refresh');
      if (err.isInvalidGrant) {
        // Terminal: Smartcar will never take this refresh token again.
        await this.vault.removeIfVersion(sessionHash, connectionId, current.version);
        this.logger.warn({ connectionId, upstream: err.details }, 'refresh token rejected: connection removed');
        const connectUrl = await this.reconnectUrl(sessionHash).catch(() => null);
        throw new AppError(mapped.code, mapped.message, { ...mapped.extensions, ...(connectUrl && { connectUrl }) }, { cause: err });
      }
      if (mapped.code === 'UPSTREAM_UNAVAILABLE') {
        // Losing the cooldown only means one more attempt at Smartcar.
        await redisCall(() => this.redis.set(cooldownKey, '1', 'PX', this.options.cooldownMs)).catch(() => undefined);
      }
      throw mapped;
    }
    return this.persist(sessionHash, connectionId, current, fresh);
  }

  /** Stores the rotated pair; Smartcar has already invalidated the old refresh token's future. */
  private async persist(sessionHash: string, connectionId: string, previous: StoredPair, fresh: TokenPair): Promise<StoredPair> {
    const issuedAt = this.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.vault.replace(sessionHash, connectionId, previous.version, fresh, issuedAt);
        if (r.written) {
          metrics.refreshes.inc({ outcome: 'refreshed' });
          return { pair: fresh, version: r.version, issuedAt };
        }
        if (r.reason === 'gone') throw gone(); // signed out or disconnected meanwhile
        // A newer pair is stored (a holder that outlived its lock): keep that one, ours is discarded.
        this.logger.error({ connectionId }, 'refresh: a newer pair was already stored; discarding ours');
        const newer = await this.vault.read(sessionHash, connectionId);
        if (!newer) throw gone();
        return newer;
      } catch (err) {
        const retriable = (err instanceof AppError && err.code === 'SERVICE_UNAVAILABLE') || isRedisUnavailable(err);
        if (!retriable) throw err;
        if (attempt >= WRITE_ATTEMPTS) {
          // Loud: the stored refresh token is the old one, usable for Smartcar's grace window (~60 s).
          this.logger.error({ connectionId, attempts: attempt }, 'REFRESHED PAIR NOT STORED: Redis unavailable; the previous refresh token must be used again within its grace window');
          // This request still gets the fresh access token.
          metrics.refreshes.inc({ outcome: 'not_stored' });
          return { pair: fresh, version: previous.version, issuedAt };
        }
        await sleep(100 * 2 ** (attempt - 1));
      }
    }
  }
}

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, toAppError } from '../errors';
import type { Logger } from '../logger';
import { metrics } from '../metrics';
import { keys, redisCall, type RedisClient } from '../redis';
import { acquireLock, releaseLock } from './redis-lock';
import type { TokenCipher } from './token.cipher';

/**
 * Smartcar API v3's application token (client credentials, about an hour, no refresh token): one for
 * every gateway instance. It opens every connected vehicle, so it is sealed in Redis like a token pair
 * and never leaves this module but as a bearer header.
 *
 * Each process holds the current token in memory and reads nothing per request. Ahead of expiry one
 * instance at a time fetches a new one (owner lock, re-read after acquiring: another may have
 * fetched it meanwhile); the others go on with the still-valid token. A 401 renews once: the callers
 * that saw the same rejected token share one fetch. Nothing here can be lost: a token Redis refused is
 * still used by this process, and another instance simply fetches its own.
 */

export interface AppToken {
  accessToken: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Epoch ms it was fetched: a token that lives less than twice `aheadMs` is due at half its life. */
  issuedAt: number;
  /** Increases with each token stored in Redis (the compare-and-set's expected value). */
  version: number;
}

/** Smartcar's token endpoint: a fresh token, or an UpstreamError. */
export type FetchAppToken = () => Promise<{ accessToken: string; expiresAt: number }>;

export interface AppTokenOptions {
  /** The client id: the sealed token is bound to it, so a token of another application never opens. */
  clientId: string;
  /** Fetch a new token this long before the current one expires (Smartcar's guidance: about 5 min), or at half its life if that is sooner. */
  aheadMs: number;
  /** How long the fetching instance holds the lock; the others wait at most this (plus a second). */
  lockTtlMs: number;
  /** After a failed fetch ahead of expiry, the still-valid token is used this long before trying again. */
  retryAfterFailureMs: number;
}

/** Compare-and-set: stores the token only over the version it replaces (two fetchers: one wins). */
const STORE = `
local ver = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if ver ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'tok', ARGV[2], 'exp', ARGV[3], 'iat', ARGV[4], 'ver', ver + 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return ver + 1`;

interface Stored {
  token: AppToken | null;
  version: number;
}

export class AppTokenProvider {
  private held: AppToken | null = null;
  private inflight: Promise<AppToken> | null = null;
  /** No fetch ahead of expiry before this time (epoch ms): the last one failed. */
  private quietUntil = 0;
  private readonly aad: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly cipher: TokenCipher,
    private readonly fetchToken: FetchAppToken,
    private readonly options: AppTokenOptions,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.aad = `${keys.appToken()}\n${createHash('sha256').update(options.clientId).digest('base64url')}`;
  }

  /** The token to send now: from memory while it is not due, else from Redis or Smartcar. */
  async get(): Promise<AppToken> {
    const held = this.held;
    if (held && this.usable(held)) return held;
    return this.next(null);
  }

  /**
   * Smartcar refused `rejected` with a 401: another token (one fetch for all who saw it). Told apart
   * by the token itself, not its version: a Redis that lost the key starts versions again.
   */
  renew(rejected: Pick<AppToken, 'accessToken'>): Promise<AppToken> {
    return this.next(rejected.accessToken);
  }

  /** In-process single-flight around `acquire`; `rejected` is the token a 401 refused, if any. */
  private async next(rejected: string | null): Promise<AppToken> {
    while (this.inflight) {
      const token = await this.inflight.catch(() => null);
      if (!token) break; // that attempt failed: try our own
      if (rejected === null ? this.usable(token) : this.acceptable(token, rejected)) return token;
    }
    const attempt = this.acquire(rejected).finally(() => {
      if (this.inflight === attempt) this.inflight = null;
    });
    this.inflight = attempt;
    return attempt;
  }

  /** Not expired, and either not due or fetched recently enough that trying again now would hammer. */
  private usable(t: AppToken): boolean {
    return this.now() < t.expiresAt && (this.now() < this.dueAt(t) || this.now() < this.quietUntil);
  }

  /** Good enough for this caller: not the one a 401 refused and not expired, or (no 401) not due. */
  private acceptable(t: AppToken, rejected: string | null): boolean {
    if (rejected !== null) return t.accessToken !== rejected && this.now() < t.expiresAt;
    return this.now() < this.dueAt(t);
  }

  private dueAt(t: AppToken): number {
    return t.expiresAt - Math.min(this.options.aheadMs, (t.expiresAt - t.issuedAt) / 2);
  }

  private async acquire(rejected: string | null): Promise<AppToken> {
    let stored: Stored;
    try {
      stored = await this.read();
    } catch (err) {
      // Redis unavailable: a token this process holds still works; without one there is nothing to do.
      if (rejected === null && this.held && this.now() < this.held.expiresAt) return this.held;
      throw err;
    }
    if (stored.token && this.acceptable(stored.token, rejected)) return this.hold(stored.token);
    const lockKey = keys.appTokenLock();
    const deadline = this.now() + this.options.lockTtlMs + 1_000;
    for (;;) {
      const owner = await acquireLock(this.redis, lockKey, this.options.lockTtlMs);
      if (owner) {
        try {
          return await this.fetchHoldingLock(rejected);
        } finally {
          // Losing this release only delays the next fetch until the TTL ends.
          await releaseLock(this.redis, lockKey, owner).catch((err: unknown) => this.logger.warn({ err: { message: (err as Error).message } }, 'app token lock release failed'));
        }
      }
      // Another instance is fetching: a token that is still valid serves meanwhile.
      const current = (await this.read()).token ?? this.held;
      if (current && (rejected === null ? this.now() < current.expiresAt : this.acceptable(current, rejected))) return this.hold(current);
      if (this.now() > deadline) throw new AppError('UPSTREAM_UNAVAILABLE', 'Fetching the Smartcar application token is taking too long. Try again shortly.');
      await sleep(40 + Math.random() * 60);
    }
  }

  private async fetchHoldingLock(rejected: string | null): Promise<AppToken> {
    const stored = await this.read();
    if (stored.token && this.acceptable(stored.token, rejected)) {
      metrics.appTokens.inc({ outcome: 'reused' });
      return this.hold(stored.token);
    }
    let fresh: { accessToken: string; expiresAt: number; issuedAt: number };
    try {
      const issuedAt = this.now();
      fresh = { ...(await this.fetchToken()), issuedAt };
    } catch (err) {
      metrics.appTokens.inc({ outcome: 'failed' });
      const current = stored.token ?? this.held;
      // Ahead of expiry the old token still works: use it, and try again a little later.
      if (rejected === null && current && this.now() < current.expiresAt) {
        this.quietUntil = this.now() + this.options.retryAfterFailureMs;
        this.logger.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'app token fetch failed: the current token serves until it expires');
        return this.hold(current);
      }
      throw toAppError(err, 'refresh');
    }
    metrics.appTokens.inc({ outcome: 'fetched' });
    this.quietUntil = 0;
    const base = stored.version;
    const version = await this.store(base, fresh).catch((err: unknown) => {
      // Redis refused it: this process uses it all the same; the others fetch their own.
      this.logger.warn({ err: { message: (err as Error).message } }, 'app token not stored in Redis: used by this process only');
      return null;
    });
    // A lost compare-and-set (a holder that outlived its lock stored one meanwhile): ours is valid too.
    return this.hold({ ...fresh, version: version ?? base + 1 });
  }

  /** The latest token this process has seen is the one it sends. */
  private hold(t: AppToken): AppToken {
    this.held = t;
    return t;
  }

  /**
   * The stored token and its version; the token is null when there is none or it cannot be opened
   * (sealed for another client id, or with a key no longer configured): fetched anew over that version.
   */
  private async read(): Promise<Stored> {
    const [tok, exp, ver, iat] = await redisCall(() => this.redis.hmget(keys.appToken(), 'tok', 'exp', 'ver', 'iat'));
    const version = Number(ver ?? 0);
    if (!tok || !exp) return { token: null, version };
    try {
      const expiresAt = Number(exp);
      return { token: { accessToken: this.cipher.open(tok, this.aad), expiresAt, issuedAt: Number(iat ?? expiresAt - 3_600_000), version }, version };
    } catch {
      return { token: null, version };
    }
  }

  private async store(base: number, t: Omit<AppToken, 'version'>): Promise<number | null> {
    const stored = Number(await redisCall(() => this.redis.eval(STORE, 1, keys.appToken(), base, this.cipher.seal(t.accessToken, this.aad), t.expiresAt, t.issuedAt)));
    return stored === 0 ? null : stored;
  }
}

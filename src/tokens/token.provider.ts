import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../redis';
import { AppError, UpstreamError } from '../errors';
import type { Logger } from '../logger';
import { metrics } from '../metrics';
import { isRedisUnavailable, keys, redisCall } from '../redis';
import type { SmartcarPort, TokenPair } from '../smartcar/smartcar.port';
import { acquireLock, releaseLock } from './redis-lock';
import {
  classifyRefreshFailure,
  FIRST_LATER_DELAY_MS,
  isExpiring,
  nextLaterDelayMs,
  recoveryStep,
  retryDelayMs,
  servesOldToken,
  WRITE_ATTEMPTS,
  writeBackoffMs,
} from './refresh.plan';
import { UnreadablePairError, type StoredPair, type TokenVault } from './token.vault';

/**
 * Lends a connection's access token to Smartcar calls and refreshes it transparently:
 * - before use when it expires within the margin, and once when Smartcar answers 401 to a token we
 *   thought valid (then the call is retried once);
 * - one refresh per connection at a time: in-process single-flight, plus a Redis lock with an owner
 *   across instances; whoever takes the lock re-reads the pair first (another instance may have
 *   refreshed it), waiters poll for the new version, bounded by the lock TTL;
 * - before Smartcar is called, the refresh is recorded in Redis (the connection's `rfv`/`rft`, and
 *   the pending index). Smartcar rotates the pair when it receives the call, and keeps honouring the
 *   old refresh token for a grace window (about 60 s) after that. So when the outcome is unknown (a
 *   timeout, a reset, a 5xx, a crash, Redis refusing the new pair), retrying with the stored refresh
 *   token inside the window gets a valid pair either way: this process retries by itself, and every
 *   instance's recovery timer (and the sweep) finishes records that a dead process left behind;
 * - the new pair is written with compare-and-set over the version that was refreshed, retried if
 *   Redis fails, then kept in memory and written in the background;
 * - `invalid_grant` is terminal (the connection is deleted, RECONNECT_REQUIRED with a fresh
 *   connectUrl), and so is a pair that no configured key opens; other refusals keep the pair, and
 *   after Smartcar failed a short cooldown stops requests from hammering it.
 * What this does not guarantee: if Redis stays unreachable (or every instance is down) for longer than
 * the grace window after Smartcar rotated a pair, the stored refresh token is dead and the driver must
 * connect again.
 */

export interface RefreshOptions {
  marginSec: number;
  lockTtlMs: number;
  cooldownMs: number;
  /** Smartcar's grace window for a used refresh token. */
  graceMs: number;
}

/** An access token on loan, with the version of the pair it came from. */
export interface LentToken {
  accessToken: string;
  version: number;
}

/** Makes a Connect URL for a session whose connection is gone (attached to RECONNECT_REQUIRED). */
export type ReconnectUrl = (sessionHash: string) => Promise<string>;

/** What one recovery attempt found. */
export type RecoveryOutcome = 'recovered' | 'settled' | 'busy' | 'failed' | 'expired' | 'gone';
export type RecoveryCounts = Partial<Record<RecoveryOutcome, number>>;

/** A pair Smartcar issued but Redis refused is kept in memory and rewritten for at most this long. */
const UNSAVED_PAIR_RETENTION_MS = 15 * 60_000;
/** Entries of the pending index looked at per recovery round. */
const RECOVERY_BATCH = 50;

const lend = (s: StoredPair): LentToken => ({ accessToken: s.pair.accessToken, version: s.version });

const gone = () => new AppError('RECONNECT_REQUIRED', 'This connection is gone. Connect the vehicle again.');

/** The lock is held elsewhere: a recovery attempt leaves the refresh to its holder. */
class LockBusy extends Error {}

type Mode = 'request' | 'recovery';

export class TokenProvider {
  private readonly inflight = new Map<string, Promise<StoredPair>>();
  /** Connections whose refresh this process retries soon (its outcome was unknown). */
  private readonly retries = new Map<string, NodeJS.Timeout>();
  /** Connections whose fresh pair only this process holds (Redis refused it): written in the background. */
  private readonly unsaved = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  private recovering: Promise<RecoveryCounts> | null = null;
  private closed = false;

  constructor(
    private readonly vault: TokenVault,
    private readonly redis: RedisClient,
    private readonly smartcar: Pick<SmartcarPort, 'refreshTokens'>,
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
    const stored = await this.read(sessionHash, connectionId);
    if (!isExpiring(stored.issuedAt, stored.pair.expiresAt, this.now(), this.options.marginSec)) return lend(stored);
    try {
      return lend(await this.refresh(sessionHash, connectionId, stored.version, 'request'));
    } catch (err) {
      // Refreshing early failed for a passing reason, but the token still works: use it (an unknown
      // outcome is being finished in the background meanwhile).
      if (servesOldToken(err, stored.pair.expiresAt, this.now())) return lend(stored);
      throw err;
    }
  }

  /** Smartcar rejected `rejected` (401): a newer token, refreshing unless someone already did. */
  async renew(sessionHash: string, connectionId: string, rejected: LentToken): Promise<LentToken> {
    return lend(await this.refresh(sessionHash, connectionId, rejected.version, 'request'));
  }

  /** Refreshes a pair regardless of its access token's expiry (the idle sweep). */
  async refreshIdle(sessionHash: string, connectionId: string): Promise<StoredPair> {
    const stored = await this.read(sessionHash, connectionId);
    return this.refresh(sessionHash, connectionId, stored.version, 'request');
  }

  /**
   * Finishes the refreshes of the pending index whose holder is gone or whose outcome was unknown,
   * while Smartcar's grace window lasts (run by every instance's timer and by the sweep). Rounds do
   * not overlap within a process.
   */
  recoverPending(): Promise<RecoveryCounts> {
    if (this.closed) return Promise.resolve({});
    this.recovering ??= this.recoverRound().finally(() => {
      this.recovering = null;
    });
    return this.recovering;
  }

  /**
   * Waits (at most `maxMs`) until this process has no refresh, retry or background write left: a
   * short-lived process (the sweep command) finishes its own unknown outcomes before it exits.
   */
  async settle(maxMs: number): Promise<void> {
    const until = this.now() + maxMs;
    while ((this.inflight.size || this.retries.size || this.background.size) && this.now() < until) await sleep(100);
  }

  /** Stops retrying, and waits for the refreshes and writes already under way (shutdown). */
  async drain(): Promise<void> {
    this.closed = true;
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    await Promise.allSettled([...this.inflight.values(), ...this.background, this.recovering]);
  }

  private async recoverRound(): Promise<RecoveryCounts> {
    const counts: RecoveryCounts = {};
    for (const p of await this.vault.pending(RECOVERY_BATCH)) {
      if (this.closed) break;
      const outcome = await this.recoverOne(p.sessionHash, p.connectionId, p.version, p.member);
      counts[outcome] = (counts[outcome] ?? 0) + 1;
    }
    return counts;
  }

  /** One pending refresh: finished, found settled (forgotten), or left for the next round. */
  private async recoverOne(sessionHash: string, connectionId: string, version: number, member: string): Promise<RecoveryOutcome> {
    if (this.unsaved.has(`${sessionHash}/${connectionId}`)) return 'busy'; // this process is writing the fresh pair
    let stored: StoredPair;
    try {
      stored = await this.read(sessionHash, connectionId);
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'RECONNECT_REQUIRED')) throw err;
      await this.vault.forgetPending(member);
      return 'gone';
    }
    const step = recoveryStep(stored, version, this.now(), this.options.graceMs);
    if (step === 'settled') {
      await this.vault.forgetPending(member);
      return 'settled';
    }
    if (step === 'expired') {
      // Past the window a retry proves nothing new; the next use of the connection finds out.
      await this.vault.forgetPending(member);
      metrics.refreshes.inc({ outcome: 'unrecovered' });
      this.logger.error({ connectionId, since: new Date(stored.pendingSince!).toISOString() }, "refresh outcome unknown past Smartcar's grace window: the connection works again only if Smartcar never received that refresh");
      return 'expired';
    }
    try {
      await this.refresh(sessionHash, connectionId, version, 'recovery');
      metrics.refreshes.inc({ outcome: 'recovered' });
      this.logger.info({ connectionId }, 'refresh of unknown outcome finished');
      return 'recovered';
    } catch (err) {
      if (err instanceof LockBusy) return 'busy';
      if (err instanceof AppError && err.code === 'RECONNECT_REQUIRED') return 'gone';
      return 'failed'; // an unknown outcome again schedules its own retry
    }
  }

  /** The stored pair; a missing or unopenable one is a dead connection (RECONNECT_REQUIRED). */
  private async read(sessionHash: string, connectionId: string): Promise<StoredPair> {
    let stored: StoredPair | null;
    try {
      stored = await this.vault.read(sessionHash, connectionId);
    } catch (err) {
      if (!(err instanceof UnreadablePairError)) throw err;
      await this.vault.removeIfVersion(sessionHash, connectionId, err.version);
      metrics.refreshes.inc({ outcome: 'unreadable' });
      this.logger.warn(
        { connectionId },
        'stored token pair opens with neither TOKEN_ENCRYPTION_KEY nor TOKEN_ENCRYPTION_KEYS_PREVIOUS (key changed without keeping the old one?): connection removed, the driver must connect again',
      );
      throw await this.reconnect(sessionHash, 'This connection can no longer be used. Connect the vehicle again.', {}, err);
    }
    if (!stored) throw gone();
    return stored;
  }

  private async reconnect(sessionHash: string, message: string, extensions: Record<string, unknown>, cause: unknown): Promise<AppError> {
    const connectUrl = await this.reconnectUrl(sessionHash).catch(() => null);
    return new AppError('RECONNECT_REQUIRED', message, { ...extensions, ...(connectUrl && { connectUrl }) }, { cause });
  }

  /** A pair newer than `seenVersion`: single-flight within this process. */
  private async refresh(sessionHash: string, connectionId: string, seenVersion: number, mode: Mode): Promise<StoredPair> {
    const key = `${sessionHash}/${connectionId}`;
    const running = this.inflight.get(key);
    if (running) {
      // A recovery attempt that found the lock taken proves nothing for this caller: try our own.
      const result = await running.catch((err: unknown) => {
        if (err instanceof LockBusy && mode === 'request') return null;
        throw err;
      });
      if (result && result.version > seenVersion) return result;
    }
    const attempt = this.refreshAcrossInstances(sessionHash, connectionId, seenVersion, mode).finally(() => {
      if (this.inflight.get(key) === attempt) this.inflight.delete(key);
    });
    this.inflight.set(key, attempt);
    return attempt;
  }

  /** Takes the connection's Redis lock, or waits (bounded) for the instance that holds it. */
  private async refreshAcrossInstances(sessionHash: string, connectionId: string, seenVersion: number, mode: Mode): Promise<StoredPair> {
    const lockKey = keys.refreshLock(sessionHash, connectionId);
    const deadline = this.now() + this.options.lockTtlMs + 1_000;
    for (;;) {
      const owner = await acquireLock(this.redis, lockKey, this.options.lockTtlMs);
      if (owner) {
        try {
          return await this.refreshHoldingLock(sessionHash, connectionId, seenVersion, mode);
        } catch (err) {
          metrics.refreshes.inc({ outcome: err instanceof AppError && err.code === 'RECONNECT_REQUIRED' ? 'reconnect' : 'failed' });
          throw err;
        } finally {
          // Losing this release only delays the next refresh until the TTL ends.
          await releaseLock(this.redis, lockKey, owner).catch((err: unknown) => this.logger.warn({ err }, 'refresh lock release failed'));
        }
      }
      if (mode === 'recovery') throw new LockBusy();
      await sleep(40 + Math.random() * 60);
      const current = await this.read(sessionHash, connectionId);
      if (current.version > seenVersion) {
        metrics.refreshes.inc({ outcome: 'reused' });
        return current;
      }
      if (this.now() > deadline) {
        throw new AppError('UPSTREAM_UNAVAILABLE', 'Refreshing the Smartcar token is taking too long. Try again shortly.');
      }
    }
  }

  private async refreshHoldingLock(sessionHash: string, connectionId: string, seenVersion: number, mode: Mode): Promise<StoredPair> {
    const current = await this.read(sessionHash, connectionId);
    if (current.version > seenVersion) {
      metrics.refreshes.inc({ outcome: 'reused' }); // another instance refreshed while we waited
      return current;
    }

    // Requests back off after a failure; recovery runs on its own schedule, bounded by the window.
    const cooldownKey = keys.refreshCooldown(sessionHash, connectionId);
    if (mode === 'request' && (await redisCall(() => this.redis.exists(cooldownKey)))) {
      throw new AppError('UPSTREAM_UNAVAILABLE', 'Smartcar failed a moment ago. Try again shortly.');
    }

    const since = await this.vault.beginRefresh(sessionHash, connectionId, current.version, this.now());
    if (since === null) return this.read(sessionHash, connectionId); // moved under a holder that outlived its lock

    let fresh: TokenPair;
    try {
      fresh = await this.smartcar.refreshTokens(current.pair.refreshToken);
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err; // stays pending: recovery retries it
      const { failure, error: mapped } = classifyRefreshFailure(err);
      if (failure === 'terminal') {
        // Terminal: Smartcar will never take this refresh token again.
        await this.vault.removeIfVersion(sessionHash, connectionId, current.version);
        await this.vault.forgetPending(`${sessionHash}/${connectionId}/${current.version}`).catch(() => undefined);
        this.logger.warn({ connectionId, upstream: err.details }, 'refresh token rejected: connection removed');
        throw await this.reconnect(sessionHash, mapped.message, mapped.extensions, err);
      }
      if (failure === 'unknown') {
        // A timeout, a reset or a 5xx: Smartcar may have rotated the pair. Retry with the same
        // refresh token while the window lasts. Losing the cooldown only means one more attempt.
        metrics.refreshes.inc({ outcome: 'unknown' });
        this.logger.warn({ connectionId, kind: err.kind, status: err.status }, "refresh outcome unknown: retrying with the same refresh token within Smartcar's grace window");
        await redisCall(() => this.redis.set(cooldownKey, '1', 'PX', this.options.cooldownMs)).catch(() => undefined);
        this.retrySoon(sessionHash, connectionId, current.version);
        throw mapped;
      }
      // Smartcar answered and refused: it rotated nothing.
      await this.vault.settleRefresh(sessionHash, connectionId, current.version).catch(() => undefined);
      throw mapped;
    }
    return this.persist(sessionHash, connectionId, current, fresh);
  }

  /** Stores the rotated pair; Smartcar has already invalidated the old refresh token's future. */
  private async persist(sessionHash: string, connectionId: string, previous: StoredPair, fresh: TokenPair): Promise<StoredPair> {
    const issuedAt = this.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.write(sessionHash, connectionId, previous, fresh, issuedAt);
      } catch (err) {
        if (!isRetriable(err)) throw err;
        if (attempt >= WRITE_ATTEMPTS) {
          // Loud: the stored refresh token is the old one, usable for Smartcar's grace window only.
          this.logger.error({ connectionId, attempts: attempt }, 'refreshed pair not stored yet: Redis unavailable; retrying in the background');
          metrics.refreshes.inc({ outcome: 'not_stored' });
          this.writeLater(sessionHash, connectionId, previous, fresh, issuedAt);
          // This request still gets the fresh access token.
          return { pair: fresh, version: previous.version, issuedAt, pendingSince: null };
        }
        await sleep(writeBackoffMs(attempt));
      }
    }
  }

  /** One compare-and-set of the fresh pair over `previous`. */
  private async write(sessionHash: string, connectionId: string, previous: StoredPair, fresh: TokenPair, issuedAt: number): Promise<StoredPair> {
    const r = await this.vault.replace(sessionHash, connectionId, previous.version, fresh, issuedAt);
    // The index entry is only where to look: a leftover is forgotten by the next recovery round.
    void this.vault.forgetPending(`${sessionHash}/${connectionId}/${previous.version}`).catch(() => undefined);
    if (r.written) {
      metrics.refreshes.inc({ outcome: 'refreshed' });
      return { pair: fresh, version: r.version, issuedAt, pendingSince: null };
    }
    if (r.reason === 'gone') throw gone(); // signed out or disconnected meanwhile
    // A newer pair is stored (a holder that outlived its lock, or a recovery): keep that one.
    this.logger.warn({ connectionId }, 'refresh: a newer pair was already stored; discarding ours');
    return this.read(sessionHash, connectionId);
  }

  /** Keeps writing a pair only this process holds until Redis takes it (or it is superseded). */
  private writeLater(sessionHash: string, connectionId: string, previous: StoredPair, fresh: TokenPair, issuedAt: number): void {
    const key = `${sessionHash}/${connectionId}`;
    this.unsaved.add(key);
    const until = this.now() + UNSAVED_PAIR_RETENTION_MS;
    const job = (async () => {
      for (let delay = FIRST_LATER_DELAY_MS; ; delay = nextLaterDelayMs(delay)) {
        const last = this.closed || this.now() >= until;
        try {
          await this.write(sessionHash, connectionId, previous, fresh, issuedAt);
          this.logger.info({ connectionId }, 'refreshed pair stored after Redis came back');
          return;
        } catch (err) {
          if (!isRetriable(err)) return; // gone: nothing to keep
          if (last) {
            this.logger.error({ connectionId }, 'refreshed pair never stored; other instances recover from the old refresh token while its grace window lasts');
            return;
          }
        }
        await sleep(delay);
      }
    })().finally(() => {
      this.unsaved.delete(key);
      this.background.delete(job);
    });
    this.background.add(job);
  }

  /** An unknown outcome: this process retries soon, whoever else may also be recovering it. */
  private retrySoon(sessionHash: string, connectionId: string, version: number): void {
    const key = `${sessionHash}/${connectionId}`;
    if (this.closed || this.retries.has(key)) return;
    const timer = setTimeout(() => {
      this.retries.delete(key);
      // recoverOne reads the pair itself and finds out whether the refresh is still pending.
      const job = this.recoverOne(sessionHash, connectionId, version, `${key}/${version}`)
        .catch((err: unknown) => this.logger.warn({ connectionId, err: { name: (err as Error).name, message: (err as Error).message } }, 'refresh retry failed'))
        .finally(() => this.background.delete(job));
      this.background.add(job);
    }, retryDelayMs(this.options.graceMs));
    timer.unref();
    this.retries.set(key, timer);
  }
}

const isRetriable = (err: unknown) => (err instanceof AppError && err.code === 'SERVICE_UNAVAILABLE') || isRedisUnavailable(err);

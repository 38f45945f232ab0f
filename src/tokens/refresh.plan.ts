import { AppError, fromUpstream, type UpstreamError } from '../errors';

/**
 * The decisions of a refresh, without I/O: when a token is due, what a failed token call means, what
 * recovery does with a pending refresh, and how long to wait between attempts. TokenProvider does the
 * I/O around them.
 */

/** How early before expiry a token is refreshed: the margin, never more than half the token's life. */
export function refreshMarginMs(marginSec: number, issuedAt: number, expiresAt: number): number {
  const lifetime = expiresAt - issuedAt;
  // Half the life at most, so very short-lived tokens are not refreshed on every use.
  return Math.min(marginSec * 1000, lifetime > 0 ? lifetime / 2 : 0);
}

/** Whether a pair must be refreshed before its access token is lent. */
export function isExpiring(issuedAt: number, expiresAt: number, now: number, marginSec: number): boolean {
  return expiresAt - now <= refreshMarginMs(marginSec, issuedAt, expiresAt);
}

/**
 * An early refresh failed: the old access token is lent anyway when the failure was passing (Smartcar
 * or the lock unavailable) and the token has not expired. Never an expired token, never after a
 * terminal or configuration failure.
 */
export function servesOldToken(err: unknown, expiresAt: number, now: number): boolean {
  return err instanceof AppError && err.code === 'UPSTREAM_UNAVAILABLE' && expiresAt > now;
}

/**
 * What a failed call to Smartcar's token endpoint means for the stored pair:
 * - `terminal`: the refresh token is dead (`invalid_grant`): the connection goes;
 * - `unknown`: a timeout, a reset or a 5xx: Smartcar may have rotated the pair, retry within the grace window;
 * - `refused`: Smartcar answered and refused (429, `invalid_client`, ...): nothing was rotated.
 */
export type RefreshFailure = 'terminal' | 'unknown' | 'refused';

export function classifyRefreshFailure(err: UpstreamError): { failure: RefreshFailure; error: AppError } {
  const error = fromUpstream(err, 'refresh');
  if (err.isInvalidGrant) return { failure: 'terminal', error };
  return { failure: error.code === 'UPSTREAM_UNAVAILABLE' ? 'unknown' : 'refused', error };
}

/**
 * What recovery does with a pending refresh of `version`, given the pair stored now:
 * `settled` (finished or moved on: forget it), `expired` (past the grace window: a retry proves
 * nothing, forget it) or `retry` (with the stored refresh token, inside the window).
 */
export type RecoveryStep = 'settled' | 'expired' | 'retry';

export function recoveryStep(stored: { version: number; pendingSince: number | null }, version: number, now: number, graceMs: number): RecoveryStep {
  if (stored.version !== version || stored.pendingSince === null) return 'settled';
  if (now >= stored.pendingSince + graceMs) return 'expired';
  return 'retry';
}

/** This process retries an unknown outcome after a tenth of the grace window, within [200 ms, 5 s]. */
export function retryDelayMs(graceMs: number): number {
  return Math.max(200, Math.min(5_000, Math.floor(graceMs / 10)));
}

/** Attempts to store a fresh pair before it is kept in memory and written in the background. */
export const WRITE_ATTEMPTS = 5;

/** Backoff after the `attempt`-th failed write of a fresh pair (1-based): 100, 200, 400, 800 ms. */
export function writeBackoffMs(attempt: number): number {
  return 100 * 2 ** (attempt - 1);
}

/** The background writer's delays: 250 ms, doubling up to 2 s. */
export const FIRST_LATER_DELAY_MS = 250;
export function nextLaterDelayMs(delay: number): number {
  return Math.min(delay * 2, 2_000);
}

import { AppError, UpstreamError, type SmartcarDetails } from '../../../src/errors';
import {
  classifyRefreshFailure,
  FIRST_LATER_DELAY_MS,
  isExpiring,
  nextLaterDelayMs,
  recoveryStep,
  refreshMarginMs,
  retryDelayMs,
  servesOldToken,
  WRITE_ATTEMPTS,
  writeBackoffMs,
} from '../../../src/tokens/refresh.plan';

const MIN = 60_000;
const HOUR = 60 * MIN;

describe('the refresh margin: the configured margin, at most half the token’s life', () => {
  test.each([
    // marginSec, lifetime (ms), margin (ms)
    [300, 2 * HOUR, 5 * MIN], // a normal Smartcar token: the margin
    [300, 6_000, 3_000], // a 6 s token: half its life, not 5 minutes
    [300, 10 * MIN, 5 * MIN], // exactly twice the margin: both agree
    [300, 9 * MIN, 4.5 * MIN],
    [0, 2 * HOUR, 0], // margin 0: refreshed only once expired
    [300, 0, 0], // no known life: no margin
    [300, -1_000, 0], // issued "after" it expires (clock skew): no margin
  ])('margin %is, life %ims → %ims', (marginSec, lifetime, margin) => {
    const issuedAt = 1_000_000_000;
    expect(refreshMarginMs(marginSec, issuedAt, issuedAt + lifetime)).toBe(margin);
  });

  const issuedAt = 1_000_000_000;
  const life = 2 * HOUR;
  const expiresAt = issuedAt + life;
  test.each([
    // now relative to expiry, due?
    [-(5 * MIN) - 1, false], // just outside the margin: not refreshed early
    [-(5 * MIN), true], // exactly at the margin
    [-1, true],
    [0, true], // expiring now
    [1_000, true], // already expired
    [-life, false], // fresh
  ])('a 2 h token with margin 300 s, %i ms from expiry: due %s', (fromExpiry, due) => {
    expect(isExpiring(issuedAt, expiresAt, expiresAt + fromExpiry, 300)).toBe(due);
  });

  test.each([
    [-3_001, false], // a 6 s token 2.999 s after issue: not yet (the margin is 3 s, not 300 s)
    [-3_000, true],
    [-2_999, true],
  ])('a 6 s token with margin 300 s, %i ms from expiry: due %s', (fromExpiry, due) => {
    expect(isExpiring(issuedAt, issuedAt + 6_000, issuedAt + 6_000 + fromExpiry, 300)).toBe(due);
  });
});

describe('serving the old token after an early refresh failed', () => {
  const now = 1_000_000;
  test.each([
    ['Smartcar unavailable, token still valid', new AppError('UPSTREAM_UNAVAILABLE', 'x'), now + 1, true],
    ['Smartcar unavailable, token expires right now', new AppError('UPSTREAM_UNAVAILABLE', 'x'), now, false],
    ['Smartcar unavailable, token expired', new AppError('UPSTREAM_UNAVAILABLE', 'x'), now - 1, false],
    ['the connection is gone', new AppError('RECONNECT_REQUIRED', 'x'), now + HOUR, false],
    ['Redis unavailable', new AppError('SERVICE_UNAVAILABLE', 'x'), now + HOUR, false],
    ['rate limited', new AppError('RATE_LIMITED', 'x'), now + HOUR, false],
    ['a configuration error', new AppError('INTERNAL_SERVER_ERROR', 'x'), now + HOUR, false],
    ['not an AppError', Object.assign(new Error('x'), { code: 'UPSTREAM_UNAVAILABLE' }), now + HOUR, false],
  ])('%s → %s', (_what, err, expiresAt, serves) => {
    expect(servesOldToken(err, expiresAt, now)).toBe(serves);
  });
});

const details = (type: string | null, code: string | null = null): SmartcarDetails => ({
  type,
  code,
  requestId: null,
  resolution: null,
  suggestedUserMessage: null,
  retryAfter: null,
});

describe('what a failed token call means', () => {
  test.each([
    ['invalid_grant', new UpstreamError('response', 400, details('invalid_grant')), 'terminal', 'RECONNECT_REQUIRED'],
    ['a timeout', new UpstreamError('timeout', null, details(null)), 'unknown', 'UPSTREAM_UNAVAILABLE'],
    ['a reset', new UpstreamError('network', null, details(null)), 'unknown', 'UPSTREAM_UNAVAILABLE'],
    ['a 503 without body', new UpstreamError('response', 503, details(null)), 'unknown', 'UPSTREAM_UNAVAILABLE'],
    ['server_error', new UpstreamError('response', 500, details('server_error')), 'unknown', 'UPSTREAM_UNAVAILABLE'],
    ['a 429', new UpstreamError('response', 429, details('RATE_LIMIT')), 'refused', 'RATE_LIMITED'],
    ['invalid_client', new UpstreamError('response', 401, details('invalid_client')), 'refused', 'INTERNAL_SERVER_ERROR'],
    ['invalid_request', new UpstreamError('response', 400, details('invalid_request')), 'refused', 'INTERNAL_SERVER_ERROR'],
    ['a 400 without body', new UpstreamError('response', 400, details(null)), 'refused', 'INTERNAL_SERVER_ERROR'],
  ])('%s → %s (%s)', (_what, err, failure, code) => {
    const r = classifyRefreshFailure(err);
    expect(r.failure).toBe(failure);
    expect(r.error.code).toBe(code);
    expect(r.error.cause).toBe(err);
  });
});

describe('what recovery does with a pending refresh', () => {
  const grace = 60_000;
  const since = 1_000_000;
  test.each([
    ['still pending, inside the window', { version: 3, pendingSince: since }, 3, since + grace - 1, 'retry'],
    ['still pending, just sent', { version: 3, pendingSince: since }, 3, since, 'retry'],
    ['still pending, the window just ended', { version: 3, pendingSince: since }, 3, since + grace, 'expired'],
    ['still pending, long past the window', { version: 3, pendingSince: since }, 3, since + 10 * grace, 'expired'],
    ['refreshed meanwhile (newer version)', { version: 4, pendingSince: null }, 3, since, 'settled'],
    ['a newer version pending itself', { version: 4, pendingSince: since }, 3, since, 'settled'],
    ['the same version, not pending any more', { version: 3, pendingSince: null }, 3, since, 'settled'],
    ['the same version, not pending, past the window', { version: 3, pendingSince: null }, 3, since + 10 * grace, 'settled'],
  ])('%s → %s', (_what, stored, version, now, step) => {
    expect(recoveryStep(stored, version, now, grace)).toBe(step);
  });
});

describe('delays', () => {
  test.each([
    [60_000, 5_000], // Smartcar's minute: every 5 s
    [8_000, 800],
    [2_000, 200],
    [1_000, 200], // never faster than 200 ms
    [0, 200],
    [2_009, 200], // whole milliseconds
    [2_019, 201],
    [50_000, 5_000],
    [50_010, 5_000], // never slower than 5 s
    [600_000, 5_000],
  ])('an unknown outcome with a %i ms window is retried after %i ms', (grace, delay) => {
    expect(retryDelayMs(grace)).toBe(delay);
  });

  test('writes of a fresh pair: 5 attempts, 100 ms doubling in between', () => {
    expect(WRITE_ATTEMPTS).toBe(5);
    expect([1, 2, 3, 4].map(writeBackoffMs)).toEqual([100, 200, 400, 800]);
  });

  test('the background writer: 250 ms, doubling, at most 2 s', () => {
    const delays = [FIRST_LATER_DELAY_MS];
    for (let i = 0; i < 5; i++) delays.push(nextLaterDelayMs(delays.at(-1)!));
    expect(delays).toEqual([250, 500, 1_000, 2_000, 2_000, 2_000]);
    expect(nextLaterDelayMs(1_500)).toBe(2_000);
  });
});

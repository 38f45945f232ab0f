import type { NextFunction, Request, Response } from 'express';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { presentedToken } from '../session/session.token';
import { metrics } from '../metrics';
import { isRedisUnavailable, keys, type RedisClient } from '../redis';

/**
 * Per-client rate limits in Redis (so they hold across instances): per client address and per
 * session, fixed one-minute windows. No in-memory fallback: while Redis is down the limiter cannot
 * count, and the request gets SERVICE_UNAVAILABLE like everything else that needs Redis.
 *
 * Only sessions that exist are counted: a counter per presented token would let anyone write one
 * Redis key per random token (the address limit still counts those requests).
 */

export interface RateLimits {
  ratePerMinuteByIp: number;
  ratePerMinuteBySession: number;
}

export type RateLimitOutcome = { limited: false } | { limited: true; retryAfter: number; by: 'ip' | 'session' } | { unavailable: true };

const WINDOW_MS = 60_000;

/**
 * KEYS: the session, its counter (one hash slot: `{hash}`). ARGV: window (ms). A fixed-window count
 * of the session's requests, or nil without writing anything when the session does not exist.
 * Returns {count, ms left in the window}.
 */
const COUNT_SESSION = `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local n = redis.call('INCR', KEYS[2])
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`;

export function createRateLimiter(redis: RedisClient, limits: RateLimits) {
  const byIp =
    limits.ratePerMinuteByIp > 0
      ? new RateLimiterRedis({ storeClient: redis, points: limits.ratePerMinuteByIp, duration: WINDOW_MS / 1000, keyPrefix: 'rl:ip', useRedisPackage: false })
      : null;
  const sessionLimit = limits.ratePerMinuteBySession;

  async function ip(req: Request): Promise<RateLimitOutcome> {
    if (!byIp) return { limited: false };
    try {
      await byIp.consume(req.ip ?? req.socket.remoteAddress ?? 'unknown');
      return { limited: false };
    } catch (err) {
      if (err instanceof RateLimiterRes) return refuse('ip', err.msBeforeNext);
      // The limiter's only other failure is Redis itself.
      if (err instanceof Error) return { unavailable: true };
      throw err;
    }
  }

  async function session(req: Request): Promise<RateLimitOutcome> {
    const hash = sessionLimit > 0 ? (presentedToken(req)?.hash ?? null) : null;
    if (hash === null) return { limited: false };
    let counted: [number, number] | null;
    try {
      counted = (await redis.eval(COUNT_SESSION, 2, keys.session(hash), keys.sessionRate(hash), WINDOW_MS)) as [number, number] | null;
    } catch (err) {
      if (isRedisUnavailable(err)) return { unavailable: true };
      throw err; // a script error is a bug: a 500 and a log line, not a silent 503
    }
    if (counted === null || counted[0] <= sessionLimit) return { limited: false };
    return refuse('session', counted[1]);
  }

  return async function check(req: Request): Promise<RateLimitOutcome> {
    // Both counters in parallel: one Redis round trip of latency, not two.
    const outcomes = await Promise.all([ip(req), session(req)]);
    const refused = outcomes.find((o) => 'unavailable' in o) ?? outcomes.find((o) => 'limited' in o && o.limited);
    return refused ?? { limited: false };
  };
}

function refuse(by: 'ip' | 'session', msBeforeNext: number): RateLimitOutcome {
  metrics.rateLimited.inc({ by });
  return { limited: true, retryAfter: Math.max(1, Math.ceil(msBeforeNext / 1000)), by };
}

/** Express middleware answering in the shape of the route: GraphQL errors or the REST error body. */
export function rateLimitMiddleware(check: ReturnType<typeof createRateLimiter>) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const outcome = await check(req);
    if ('unavailable' in outcome) return void reject(req, res, 503, 'SERVICE_UNAVAILABLE', 'The gateway cannot reach its session store. Try again shortly.');
    if (!outcome.limited) return next();
    res.setHeader('retry-after', String(outcome.retryAfter));
    reject(req, res, 429, 'RATE_LIMITED', 'Too many requests. Retry later.', { retryAfter: outcome.retryAfter });
  };
}

function reject(req: Request, res: Response, status: number, code: string, message: string, extra: Record<string, unknown> = {}): void {
  if (req.path.startsWith('/graphql')) {
    res.status(status).json({ errors: [{ message, extensions: { code, ...extra } }] });
  } else {
    res.status(status).json({ error: { code, message, ...extra } });
  }
}

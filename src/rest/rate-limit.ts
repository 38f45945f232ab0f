import type { NextFunction, Request, Response } from 'express';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { presentedToken } from '../session/session.token';
import { metrics } from '../metrics';
import type { RedisClient } from '../redis';

/**
 * Per-client rate limits in Redis (so they hold across instances): per client address and per
 * session, fixed one-minute windows. No in-memory fallback: while Redis is down the limiter cannot
 * count, and the request gets SERVICE_UNAVAILABLE like everything else that needs Redis.
 */

export interface RateLimits {
  ratePerMinuteByIp: number;
  ratePerMinuteBySession: number;
}

export type RateLimitOutcome = { limited: false } | { limited: true; retryAfter: number; by: 'ip' | 'session' } | { unavailable: true };

export function createRateLimiter(redis: RedisClient, limits: RateLimits) {
  const make = (points: number, name: string) =>
    points > 0 ? new RateLimiterRedis({ storeClient: redis, points, duration: 60, keyPrefix: `rl:${name}`, useRedisPackage: false }) : null;
  const byIp = make(limits.ratePerMinuteByIp, 'ip');
  const bySession = make(limits.ratePerMinuteBySession, 'session');

  return async function check(req: Request): Promise<RateLimitOutcome> {
    if (!byIp && !bySession) return { limited: false };
    const hash = bySession ? (presentedToken(req)?.hash ?? null) : null;
    const checks: [RateLimiterRedis | null, string, 'ip' | 'session'][] = [
      [byIp, req.ip ?? req.socket.remoteAddress ?? 'unknown', 'ip'],
      // `{hash}`: the counter shares the session's hash slot, so sign-out deletes it with the rest.
      [bySession, hash ? `{${hash}}` : '', 'session'],
    ];
    // Both counters in parallel: one Redis round trip of latency, not two.
    const outcomes = await Promise.all(
      checks.map(async ([limiter, key, by]): Promise<RateLimitOutcome> => {
        if (!limiter || !key) return { limited: false };
        try {
          await limiter.consume(key);
          return { limited: false };
        } catch (err) {
          if (err instanceof RateLimiterRes) {
            metrics.rateLimited.inc({ by });
            return { limited: true, retryAfter: Math.max(1, Math.ceil(err.msBeforeNext / 1000)), by };
          }
          // The limiter's only other failure is Redis itself.
          if (err instanceof Error) return { unavailable: true };
          throw err;
        }
      }),
    );
    const refused = outcomes.find((o) => 'unavailable' in o) ?? outcomes.find((o) => 'limited' in o && o.limited);
    if (refused) return refused;
    return { limited: false };
  };
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

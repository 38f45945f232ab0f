import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { ErrorCode } from '../errors';
import { metrics } from '../metrics';
import { isRedisUnavailable, keys, type RedisClient } from '../redis';
import { sendRestError } from './rest-error';

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

/** Who is asking: the client address (after TRUST_PROXY) and the hash of the presented session token. */
export interface Caller {
  ip: string;
  sessionHash: string | null;
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

  async function ip(caller: Caller): Promise<RateLimitOutcome> {
    if (!byIp) return { limited: false };
    try {
      await byIp.consume(caller.ip);
      return { limited: false };
    } catch (err) {
      if (err instanceof RateLimiterRes) return refuse('ip', err.msBeforeNext);
      // The limiter's only other failure is Redis itself.
      if (err instanceof Error) return { unavailable: true };
      throw err;
    }
  }

  async function session(caller: Caller): Promise<RateLimitOutcome> {
    const hash = sessionLimit > 0 ? caller.sessionHash : null;
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

  return async function check(caller: Caller): Promise<RateLimitOutcome> {
    // Both counters in parallel: one Redis round trip of latency, not two.
    const outcomes = await Promise.all([ip(caller), session(caller)]);
    const refused = outcomes.find((o) => 'unavailable' in o) ?? outcomes.find((o) => 'limited' in o && o.limited);
    return refused ?? { limited: false };
  };
}

function refuse(by: 'ip' | 'session', msBeforeNext: number): RateLimitOutcome {
  metrics.rateLimited.inc({ by });
  return { limited: true, retryAfter: Math.max(1, Math.ceil(msBeforeNext / 1000)), by };
}

export type RateLimitCheck = ReturnType<typeof createRateLimiter>;

/** The limits as an onRequest hook; none at all when both are off (0), so they then cost nothing. */
export function registerRateLimits(app: FastifyInstance, redis: RedisClient, limits: RateLimits): void {
  if (limits.ratePerMinuteByIp <= 0 && limits.ratePerMinuteBySession <= 0) return;
  app.addHook('onRequest', rateLimitHook(createRateLimiter(redis, limits), (request) => ({ ip: request.ip, sessionHash: request.presented?.hash ?? null })));
}

/**
 * An onRequest hook answering in the shape of the route: GraphQL errors on /graphql, the REST error
 * body elsewhere. Routes with `config: { rateLimited: false }` (the ops routes) are not counted.
 */
export function rateLimitHook(check: RateLimitCheck, caller: (request: FastifyRequest) => Caller) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config.rateLimited === false) return;
    const outcome = await check(caller(request));
    if ('unavailable' in outcome) return reject(request, reply, 'SERVICE_UNAVAILABLE', 'The gateway cannot reach its session store. Try again shortly.');
    if (!outcome.limited) return;
    void reply.header('retry-after', String(outcome.retryAfter));
    return reject(request, reply, 'RATE_LIMITED', 'Too many requests. Retry later.', { retryAfter: outcome.retryAfter });
  };
}

function reject(request: FastifyRequest, reply: FastifyReply, code: ErrorCode & ('RATE_LIMITED' | 'SERVICE_UNAVAILABLE'), message: string, extra: Record<string, unknown> = {}): FastifyReply {
  if (request.url.startsWith('/graphql')) {
    return reply.code(code === 'RATE_LIMITED' ? 429 : 503).send({ errors: [{ message, extensions: { code, ...extra } }] });
  }
  return sendRestError(reply, code, message, extra);
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: the route is not rate-limited (liveness, readiness, metrics). */
    rateLimited?: boolean;
  }
}

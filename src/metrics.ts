import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics, served at /metrics. One registry per process (not prom-client's global one),
 * shared by every app in it, so tests that start several apps in one process do not collide.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'gateway_process_' });

export const metrics = {
  requests: new Counter({
    name: 'gateway_requests_total',
    help: 'Requests by operation (GraphQL operation name, or the REST route) and outcome (ok or an error code).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [registry],
  }),
  clientRequests: new Counter({
    name: 'gateway_client_requests_total',
    help: 'GraphQL requests by apollographql-client-name and apollographql-client-version (bounded: the first 20 names and 10 versions of each keep their own label, later ones are "other"; none when absent).',
    labelNames: ['client_name', 'client_version'] as const,
    registers: [registry],
  }),
  upstream: new Counter({
    name: 'gateway_upstream_requests_total',
    help: 'Calls to Smartcar by path and HTTP status (network / timeout when there was none).',
    labelNames: ['path', 'status'] as const,
    registers: [registry],
  }),
  refreshes: new Counter({
    name: 'gateway_token_refreshes_total',
    help: 'Token refreshes by outcome: refreshed, reused (another process had refreshed), reconnect (invalid_grant), failed, unknown (timeout, reset or 5xx: retried), recovered, unrecovered (past the grace window), not_stored (Redis refused the new pair), unreadable (no key opens the pair).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  cache: new Counter({
    name: 'gateway_cache_total',
    help: 'Vehicle-reading cache lookups by result (hit or miss).',
    labelNames: ['result'] as const,
    registers: [registry],
  }),
  redisLatency: new Histogram({
    name: 'gateway_redis_command_seconds',
    help: 'Latency of Redis calls made by the gateway, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  }),
  rateLimited: new Counter({
    name: 'gateway_rate_limited_total',
    help: 'Requests refused by the per-client rate limits, by key kind (ip or session).',
    labelNames: ['by'] as const,
    registers: [registry],
  }),
  unhandledRejections: new Counter({
    name: 'gateway_unhandled_rejections_total',
    help: 'Promise rejections nobody handled (logged; the process keeps running).',
    registers: [registry],
  }),
};

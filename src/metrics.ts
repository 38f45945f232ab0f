import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type CounterConfiguration } from 'prom-client';

/**
 * Prometheus metrics, served at /metrics. One registry per process (not prom-client's global one),
 * shared by every app in it, so tests that start several apps in one process do not collide.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'gateway_process_' });

/**
 * A counter for the hot path: increments are tallied in a Map by a key the caller builds, and handed
 * to prom-client when the metrics are read (its collect hook). prom-client hashes the label set on
 * every inc() (sort, join): in the profile of `{ __typename }` that was a few % of the request.
 * The label values are bounded by their callers, and so is the Map.
 */
function tallied<L extends string>(config: Omit<CounterConfiguration<L>, 'collect'>) {
  const pending = new Map<string, { labels: Record<L, string>; n: number }>();
  const counter = new Counter<L>({
    ...config,
    collect() {
      for (const p of pending.values()) this.inc(p.labels as Partial<Record<L, string>>, p.n);
      pending.clear();
    },
  });
  const add = (key: string, labels: () => Record<L, string>) => {
    const p = pending.get(key);
    if (p) p.n++;
    else pending.set(key, { labels: labels(), n: 1 });
  };
  return { counter, add };
}

const requests = tallied({
  name: 'gateway_requests_total',
  help: 'Requests by operation (GraphQL operation name, or the REST route) and outcome (ok or an error code).',
  labelNames: ['operation', 'outcome'] as const,
  registers: [registry],
});
const clientRequests = tallied({
  name: 'gateway_client_requests_total',
  help: 'GraphQL requests by apollographql-client-name and apollographql-client-version (bounded: the first 20 names and 10 versions of each keep their own label, later ones are "other"; none when absent).',
  labelNames: ['client_name', 'client_version'] as const,
  registers: [registry],
});

/** One request answered: GraphQL (by the Apollo plugin) or REST (by the edge). */
export function countRequest(operation: string, outcome: string): void {
  requests.add(`${operation}\n${outcome}`, () => ({ operation, outcome }));
}

/** One GraphQL request of this client (labels already bounded by ClientLabels). */
export function countClient(label: { client_name: string; client_version: string }): void {
  clientRequests.add(`${label.client_name}\n${label.client_version}`, () => label);
}

export const metrics = {
  requests: requests.counter,
  clientRequests: clientRequests.counter,
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
  appTokens: new Counter({
    name: 'gateway_app_token_fetches_total',
    help: 'Smartcar API v3 application token fetches by outcome: fetched, reused (another instance had fetched it), failed.',
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
  liveSubscribers: new Gauge({
    name: 'gateway_live_subscribers',
    help: 'vehicleUpdated subscriptions open in this process.',
    registers: [registry],
  }),
  liveEventsSent: new Counter({
    name: 'gateway_live_events_sent_total',
    help: 'vehicleUpdated events sent to subscribers (with or without errors).',
    registers: [registry],
  }),
  unhandledRejections: new Counter({
    name: 'gateway_unhandled_rejections_total',
    help: 'Promise rejections nobody handled (logged; the process keeps running).',
    registers: [registry],
  }),
  webhooks: new Counter({
    name: 'gateway_webhooks_total',
    help: 'Smartcar webhook deliveries by event type (VERIFY, VEHICLE_STATE, VEHICLE_ERROR, other, unknown) and outcome (applied, duplicate, in_progress, test, ignored, bad_signature, bad_payload, busy, failed, verified, unconfigured).',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  }),
  webhookReadings: new Counter({
    name: 'gateway_webhook_readings_total',
    help: "Readings a webhook carried, per connection that holds the vehicle: written (newer than the cache's), stale (not newer: kept the cached one), failure (an error Smartcar reported, recorded), resolved (such an error cleared).",
    labelNames: ['result'] as const,
    registers: [registry],
  }),
  webhookSubscriptions: new Counter({
    name: 'gateway_webhook_subscriptions_total',
    help: 'Vehicles subscribed to or unsubscribed from SMARTCAR_WEBHOOK_ID at Smartcar, by operation and outcome (done, retry, dropped).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [registry],
  }),
};

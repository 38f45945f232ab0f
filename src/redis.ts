import Redis, { Cluster, type RedisOptions } from 'ioredis';
import { serviceUnavailable, StartupError } from './errors';
import type { Logger } from './logger';
import { metrics } from './metrics';

/** A single Redis (or Sentinel-managed) or a Redis Cluster: the gateway uses what both offer. */
export type RedisClient = Redis | Cluster;

export interface RedisSettings {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  clusterNodes: { host: string; port: number }[] | null;
  sentinel: { sentinels: { host: string; port: number }[]; name: string; username: string | null; password: string | null } | null;
}

/**
 * Redis connection and the boundary that turns "Redis is not there" into SERVICE_UNAVAILABLE.
 * No offline queue: while Redis is down a command fails at once instead of piling up in memory,
 * and every command is bounded by `commandTimeout`, so a hung Redis cannot hang a request.
 */

export function createRedis(settings: RedisSettings): RedisClient {
  const options: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: 2_000,
    // Reconnect forever, backing off to 2 s: the gateway recovers by itself when Redis returns.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  };
  if (settings.clusterNodes) {
    // The seed list has no room for credentials: they, and TLS, come from REDIS_URL, and every node
    // the cluster discovers is opened with them.
    const { auth, tls } = fromUrl(settings.url);
    return new Cluster(settings.clusterNodes, {
      keyPrefix: settings.keyPrefix,
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
      // With TLS, connect by the name given so that the certificate is checked against it.
      ...(tls && { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) }),
      redisOptions: { ...options, keyPrefix: undefined, ...auth, ...(tls && { tls }) },
    });
  }
  if (settings.sentinel) {
    const { auth, tls } = fromUrl(settings.url);
    const { sentinels, name, username, password } = settings.sentinel;
    return new Redis({
      ...options,
      keyPrefix: settings.keyPrefix,
      sentinels,
      name,
      ...auth,
      ...(username && { sentinelUsername: username }),
      ...(password && { sentinelPassword: password }),
      // rediss://: TLS to the master and replicas the sentinels name, and to the sentinels.
      ...(tls && { tls, enableTLSForSentinelMode: true, sentinelTLS: tls }),
    });
  }
  return new Redis(settings.url, { ...options, keyPrefix: settings.keyPrefix });
}

/** What a REDIS_URL says beyond its host: credentials, and TLS for rediss://. */
function fromUrl(raw: string): { auth: { username?: string; password?: string }; tls: Record<string, never> | null } {
  const url = new URL(raw);
  return {
    auth: {
      ...(url.username && { username: decodeURIComponent(url.username) }),
      ...(url.password && { password: decodeURIComponent(url.password) }),
    },
    tls: url.protocol === 'rediss:' ? {} : null,
  };
}

/** Connects once, failing fast with one clear line when Redis is not there. */
export async function connectRedis(options: RedisSettings, logger: Logger): Promise<RedisClient> {
  const redis = createRedis(options);
  // Until the first connection, an error is the start-up failure's cause, not a warning: ioredis
  // emits the socket's error (ECONNREFUSED, ENOTFOUND, NOAUTH…) and then rejects connect() with a
  // bare "Connection is closed", so the cause is kept for the one line below.
  let cause: Error | null = null;
  const keepCause = (err: Error) => void (cause = err);
  redis.on('error', keepCause);
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const where = options.clusterNodes
      ? `the cluster ${options.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')} (REDIS_CLUSTER_NODES)`
      : options.sentinel
        ? `the sentinels of "${options.sentinel.name}" (REDIS_SENTINELS)`
        : `${new URL(options.url).protocol}//${new URL(options.url).host} (REDIS_URL)`;
    // A name with two addresses (localhost: ::1 and 127.0.0.1) fails with an AggregateError whose
    // message is empty; its code still says why.
    const describe = (e: unknown) => (e instanceof Error ? e.message || String((e as { code?: unknown }).code ?? e.name) : String(e));
    const reason = describe(cause ?? err);
    const fix = options.clusterNodes ? 'REDIS_CLUSTER_NODES' : options.sentinel ? 'REDIS_SENTINELS' : 'REDIS_URL';
    throw new StartupError(`Cannot reach Redis at ${where}: ${reason}. Start Redis there, or set ${fix} to where it runs.`);
  }
  redis.off('error', keepCause);
  redis.on('error', (err: Error) => logger.warn({ err: { name: err.name, message: err.message } }, 'redis connection error'));
  return redis;
}

/**
 * Every key the gateway writes has a TTL, so any maxmemory-policy but `noeviction` (volatile-* and
 * allkeys-* alike) lets a full Redis delete token pairs: their users must connect their cars again.
 * In production that refuses to start unless REDIS_ALLOW_EVICTION=true; elsewhere it warns. A Redis
 * that refuses CONFIG (managed services often do) cannot be checked: a warning, and the gateway starts.
 */
export async function checkEvictionPolicy(redis: RedisClient, opts: { production: boolean; allowEviction: boolean }, logger: Logger): Promise<void> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  let policies: string[];
  try {
    policies = await Promise.all(
      nodes.map(async (node) => {
        const reply = (await node.config('GET', 'maxmemory-policy')) as string[];
        return reply[1] ?? 'unknown';
      }),
    );
  } catch (err) {
    logger.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'cannot read Redis maxmemory-policy (CONFIG refused): make sure it is noeviction, or token pairs may be evicted when Redis is full');
    return;
  }
  const evicting = [...new Set(policies.filter((p) => p !== 'noeviction'))];
  if (!evicting.length) return;
  const what = `Redis maxmemory-policy is ${evicting.join(', ')}: when Redis is full it evicts keys, token pairs included (their users must connect their cars again). Set maxmemory-policy noeviction, or REDIS_ALLOW_EVICTION=true to accept it`;
  if (opts.production && !opts.allowEviction) throw new StartupError(what);
  if (!opts.allowEviction) logger.warn({ maxmemoryPolicy: evicting }, what);
}

/** Replies that mean "not available right now" rather than "your command is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|BUSY|NOREPLICAS)/;

export function isRedisUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'ReplyError') return UNAVAILABLE_REPLY.test(e.message ?? '');
  return (
    e.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND/.test(e.message ?? '')
  );
}

/** Runs Redis work; an outage becomes SERVICE_UNAVAILABLE, anything else propagates unchanged. */
export async function redisCall<T>(work: () => Promise<T>): Promise<T> {
  const end = metrics.redisLatency.startTimer();
  try {
    const result = await work();
    end({ outcome: 'ok' });
    return result;
  } catch (err) {
    end({ outcome: 'error' });
    if (isRedisUnavailable(err)) throw serviceUnavailable(err);
    throw err;
  }
}

/** The key prefix the client adds (scripts that build key names, and SCAN, need it). */
export function prefixOf(redis: RedisClient): string {
  return redis.options.keyPrefix ?? '';
}

/** Every master's keys matching `pattern` (SCAN runs per node on a cluster). */
export async function* scanKeys(redis: RedisClient, pattern: string): AsyncGenerator<string[]> {
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    for await (const batch of node.scanStream({ match: pattern, count: 500 }) as AsyncIterable<string[]>) yield batch;
  }
}

/**
 * Key layout. Everything of one session shares the `{hash}` tag, so multi-key transactions and locks
 * stay in one slot on Redis Cluster. Keys hold only the SHA-256 of the session token.
 */
export const keys = {
  session: (h: string) => `sess:{${h}}`,
  /** Sorted set: state → expiry (epoch ms). */
  states: (h: string) => `sess:{${h}}:states`,
  /** Hash: state → the external id its v3 Connect URL carries. */
  stateExternalIds: (h: string) => `sess:{${h}}:xids`,
  connection: (h: string, connectionId: string) => `sess:{${h}}:conn:${connectionId}`,
  refreshLock: (h: string, connectionId: string) => `sess:{${h}}:conn:${connectionId}:lock`,
  refreshCooldown: (h: string, connectionId: string) => `sess:{${h}}:conn:${connectionId}:cooldown`,
  /** The session's rate-limit counter: a fixed one-minute window, only for sessions that exist. */
  sessionRate: (h: string) => `rl:session:{${h}}`,
  /** The sweep's own lock: one instance sweeps at a time. */
  sweepLock: () => 'sweep:lock',
  /**
   * Sorted set indexing refreshes in flight or of unknown outcome (`<hash>/<connection>/<version>` →
   * started at, epoch ms), so any instance can find and finish them. The truth is the connection's own
   * `rfv`/`rft` fields; this is only where to look.
   */
  refreshPending: () => 'refresh:pending',
  /** Hash: Smartcar API v3's application token, sealed (`tok`), its expiry (`exp`) and version (`ver`). */
  appToken: () => 'app:{token}',
  appTokenLock: () => 'app:{token}:lock',
  /** A webhook event applied (`d`, a week) or being applied (`p`, seconds): by a hash of its eventId. */
  webhookEvent: (hashedEventId: string) => `wh:evt:${hashedEventId}`,
  /** Set: `<sessionHash>/<connectionId>` of every connection that reaches the vehicle (see VehicleIndex). */
  vehicleIndex: (vehicleId: string) => `live:veh:${vehicleId}`,
  /** Sorted set: webhook subscriptions to make or end at Smartcar (sealed jobs → when due, epoch ms). */
  webhookSubscriptionJobs: () => 'live:whsub',
  /** Pub/sub channel (not a key): `[sessionHash, vehicleId]` of each vehicle with newer readings. */
  vehicleUpdates: () => 'live:vehicle-updated',
  /** A GraphQL document registered by automatic persisted queries (Apollo's own key: `apq:<sha256>`). */
  graphqlDocument: (key: string) => `gql:${key}`,
};

/** `sess:{<hash>}:conn:<id>` exactly (not its lock or cooldown keys). */
export const CONNECTION_KEY = /^sess:\{([A-Za-z0-9_-]{43})\}:conn:([A-Za-z0-9_-]+)$/;

import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * The only reader of the environment (the README's Configuration table). Everything else receives a
 * typed Config. A bad or missing variable stops the process at start with one message listing every
 * problem (one line when there is one).
 */

export type SmartcarMode = 'live' | 'test' | 'simulated';

/**
 * Which X-Forwarded-For entries to believe: none (the socket), the last `hops` (each proxy appends
 * the address it saw), or those appended by proxies at these addresses. Express and Fastify both take
 * a hop count or an address list (proxy-addr); neither form lets the client's own leftmost entry win.
 */
export type TrustProxy = false | { hops: number } | { addresses: string[] };

export interface Config {
  env: 'production' | 'development' | 'test';
  port: number;
  host: string;
  redis: {
    url: string;
    keyPrefix: string;
    /** Bound on every Redis command: a hung Redis fails a request instead of hanging it. */
    commandTimeoutMs: number;
    /** Redis Cluster seed nodes (`host:port`); null: a single Redis or Sentinel. */
    clusterNodes: { host: string; port: number }[] | null;
    /** Sentinel: the sentinels, the master's name and the sentinels' own credentials; null: no Sentinel. */
    sentinel: { sentinels: { host: string; port: number }[]; name: string; username: string | null; password: string | null } | null;
    /** Start even though Redis may evict keys (its maxmemory-policy is not noeviction). */
    allowEviction: boolean;
  };
  smartcar: {
    /** `null`: no credentials, the gateway runs the built-in simulator. */
    credentials: { clientId: string; clientSecret: string } | null;
    /** `null` in simulator mode until the gateway knows its own URL (`http://localhost:PORT/exchange`). */
    redirectUri: string | null;
    mode: SmartcarMode;
    /** `auto`: required for http(s) redirect URIs only (see stateRequired in src/connect). */
    requireState: boolean | 'auto';
    /** Permissions asked for when `connectUrl` gets no `scope`. */
    scope: string[];
    /** The SDK's own origin variables, as given (`null`: Smartcar's defaults). */
    origins: { auth: string | null; api: string | null; management: string | null };
    /** Deadline of every Smartcar call (the SDK's own default is 310 s). */
    timeoutMs: number;
    /** Deadline of a token-endpoint call: short, so an unknown outcome leaves time to recover (see refresh.graceMs). */
    tokenTimeoutMs: number;
    /** Units of vehicle readings (Smartcar's `sc-unit-system`). */
    unitSystem: 'metric' | 'imperial';
    /** The API version new connections are made with (a session's older connections keep theirs). */
    apiVersion: 2 | 3;
    /** API v3's Connect identity and hosts; always set (v2 mode ignores it). */
    v3: {
      /** The Application ID Connect takes; null in simulator mode until the simulator tells it. */
      applicationId: string | null;
      origins: { iam: string; api: string; management: string; connect: string };
    };
    /** The Application Management Token (webhook signatures); null when not set. */
    managementToken: string | null;
    /** v3: the webhook each newly connected vehicle is subscribed to; null: none. */
    webhookId: string | null;
  };
  /** Abuse limits of the GraphQL edge and per-client rate limits (0 = off). */
  limits: {
    maxDepth: number;
    maxAliases: number;
    maxTokens: number;
    /** Selections (fields and fragments, through fragment spreads), counted before validation. */
    maxSelections: number;
    maxCost: number;
    /** Distinct (vehicle, signal) readings one request may ask for: the billing cap. */
    maxReadingsPerRequest: number;
    ratePerMinuteByIp: number;
    ratePerMinuteBySession: number;
    /** Where the client address comes from behind proxies (README, "Running it in production"). */
    trustProxy: TrustProxy;
  };
  /** The GraphQL edge for mobile clients (README, "Mobile clients"). */
  graphql: {
    /** Life of a document registered by automatic persisted queries, in Redis. */
    apqTtlSec: number;
    /** Path of an Apollo persisted-query manifest: only its operations run; null: any operation. */
    trustedDocuments: string | null;
  };
  /** Signals: default `maxAge` (seconds) when a query gives none; 0 = always ask Smartcar. */
  signals: { defaultMaxAgeSec: number };
  /** Transparent refresh (see src/tokens/token.provider.ts). */
  refresh: {
    /** Refresh before use when the access token expires within this (clock skew + Smartcar latency). */
    marginSec: number;
    /** Bound on a refresh lock; longer than a token call, so a live holder never loses it. */
    lockTtlMs: number;
    /**
     * How long Smartcar keeps honouring a refresh token after its first use (about 60 s). A refresh
     * whose outcome is unknown is retried with the same refresh token inside this window.
     */
    graceMs: number;
    /** After a transient refresh failure, no new attempt for this long (do not hammer Smartcar). */
    cooldownMs: number;
    /** Refresh-token age after which the sweep refreshes an idle connection. */
    sweepAgeDays: number;
    /** How often the in-server sweep runs; 0 turns it off. */
    sweepIntervalSec: number;
  };
  /** Where the built-in simulator listens when there are no credentials (port 0: any free port). */
  simulator: { host: string; port: number };
  /**
   * AES-256-GCM key for token pairs at rest; `generated` when made up at start (simulator mode).
   * `previous` keys still open values sealed before a rotation (re-sealed with `key` when next written).
   */
  tokenKey: { key: Buffer; previous: Buffer[]; generated: boolean };
  session: { cookieSecure: boolean; unconnectedTtlSec: number };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** `auto`: readable lines in development on a terminal, JSON otherwise (see src/logger.ts). */
  logFormat: 'json' | 'pretty' | 'auto';
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? `Invalid configuration: ${problems[0]}` : `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_SCOPE = [
  'required:read_vehicle_info',
  'read_vin',
  'read_odometer',
  'read_location',
  'read_battery',
  'read_charge',
  'read_fuel',
  'read_engine_oil',
  'read_tires',
  'read_security',
  'control_security',
  'control_charge',
];

const emptyToUndefined = (v: unknown) => (v === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const bool = (fallback: boolean) =>
  z.preprocess(emptyToUndefined, z.enum(['true', 'false'], { message: 'must be "true" or "false"' }).optional()).transform((v) => (v === undefined ? fallback : v === 'true'));
const origin = z.preprocess(
  emptyToUndefined,
  z
    .string()
    .regex(/^https?:\/\/[^/\s]+(\/[^\s]*[^/\s])?$/, 'must be an http(s) origin without a trailing slash (the SDK concatenates paths to it)')
    .optional(),
);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Smartcar's v3 hosts, used when their variables are not set. */
export const V3_ORIGINS = {
  iam: 'https://iam.smartcar.com',
  api: 'https://vehicle.api.smartcar.com',
  management: 'https://management.api.smartcar.com',
  connect: 'https://connect.smartcar.com',
} as const;

/** Every way a number variable can be wrong gets the same message: what it accepts. */
const NUMBER_MESSAGE = /^must be a (whole )?number from /;
const num = (min: number, max: number, whole = true) => {
  const error = `must be a ${whole ? 'whole ' : ''}number from ${min} to ${max}`;
  const n = z.coerce.number({ error }).min(min, { error }).max(max, { error });
  return whole ? n.int({ error }) : n;
};

/** proxy-addr's names for the loopback, link-local and private ranges. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isTrustedProxyEntry(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const [ip = '', bits, ...rest] = entry.split('/');
  const family = isIP(ip);
  if (!family || rest.length) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

const trustProxy = z.preprocess(emptyToUndefined, z.string().optional()).transform((raw, ctx): TrustProxy => {
  const v = raw?.trim();
  if (v === undefined || v === 'false' || v === '0') return false;
  if (v === 'true') return { hops: 1 };
  if (/^\d+$/.test(v) && Number(v) <= 20) return { hops: Number(v) };
  const addresses = v.split(',').map((x) => x.trim()).filter(Boolean);
  if (addresses.length && addresses.every(isTrustedProxyEntry)) return { addresses };
  ctx.addIssue({
    code: 'custom',
    message: 'must be "false", "true" (one trusted hop), a number of hops (0-20), or a comma-separated list of trusted proxy addresses/CIDRs (or loopback, linklocal, uniquelocal)',
  });
  return z.NEVER;
});

const schema = z.object({
  NODE_ENV: z.preprocess(emptyToUndefined, z.enum(['production', 'development', 'test']).default('development')),
  PORT: z.preprocess(emptyToUndefined, num(0, 65535).default(8000)),
  HOST: z.preprocess(emptyToUndefined, z.string().min(1).default('127.0.0.1')),
  REDIS_URL: z.preprocess(
    emptyToUndefined,
    z.string().regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
  ),
  REDIS_KEY_PREFIX: z.preprocess(emptyToUndefined, z.string().regex(/^[\w.:-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9_.:-]').default('gw:')),
  SMARTCAR_CLIENT_ID: optionalString,
  SMARTCAR_CLIENT_SECRET: optionalString,
  SMARTCAR_REDIRECT_URI: z.preprocess(
    emptyToUndefined,
    z.string().regex(/^[a-z][a-z0-9+.-]*:\/\/\S+$/i, 'must be an absolute URI, e.g. sc<clientId>://exchange or https://…/exchange').optional(),
  ),
  SMARTCAR_MODE: z.preprocess(emptyToUndefined, z.enum(['live', 'test', 'simulated']).default('test')),
  SMARTCAR_REQUIRE_STATE: z
    .preprocess(emptyToUndefined, z.enum(['true', 'false', 'auto'], { message: 'must be "true", "false" or "auto"' }).default('auto'))
    .transform((v) => (v === 'auto' ? 'auto' : v === 'true')),
  SMARTCAR_SCOPE: optionalString,
  SMARTCAR_TIMEOUT_MS: z.preprocess(emptyToUndefined, num(100, 310_000).default(15_000)),
  SMARTCAR_TOKEN_TIMEOUT_MS: z.preprocess(emptyToUndefined, num(100, 310_000).optional()),
  SMARTCAR_REFRESH_GRACE_SEC: z.preprocess(emptyToUndefined, num(2, 3600).default(60)),
  SMARTCAR_UNIT_SYSTEM: z.preprocess(emptyToUndefined, z.enum(['metric', 'imperial']).default('metric')),
  SIGNAL_MAX_AGE_SEC: z.preprocess(emptyToUndefined, num(0, 86_400 * 30).default(0)),
  SMARTCAR_AUTH_ORIGIN: origin,
  SMARTCAR_API_ORIGIN: origin,
  SMARTCAR_MANAGEMENT_API_ORIGIN: origin,
  SMARTCAR_API_VERSION: z.preprocess(emptyToUndefined, z.enum(['2', '3'], { message: 'must be "2" or "3"' }).optional()),
  SMARTCAR_APPLICATION_ID: z.preprocess(emptyToUndefined, z.string().regex(UUID, 'must be the Application ID from the Smartcar dashboard (a UUID; the client_… id is for the token endpoint only)').optional()),
  SMARTCAR_MANAGEMENT_TOKEN: optionalString,
  SMARTCAR_WEBHOOK_ID: z.preprocess(emptyToUndefined, z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be the webhook id from the Smartcar dashboard').optional()),
  SMARTCAR_IAM_ORIGIN: origin,
  SMARTCAR_API_V3_ORIGIN: origin,
  SMARTCAR_MANAGEMENT_API_V3_ORIGIN: origin,
  SMARTCAR_CONNECT_ORIGIN: origin,
  TOKEN_ENCRYPTION_KEY: optionalString,
  TOKEN_ENCRYPTION_KEYS_PREVIOUS: optionalString,
  COOKIE_SECURE: z.preprocess(emptyToUndefined, z.enum(['true', 'false'], { message: 'must be "true" or "false"' }).optional()),
  REDIS_COMMAND_TIMEOUT_MS: z.preprocess(emptyToUndefined, num(50, 60_000).default(500)),
  REDIS_CLUSTER_NODES: optionalString,
  REDIS_SENTINELS: optionalString,
  REDIS_SENTINEL_NAME: optionalString,
  REDIS_SENTINEL_USERNAME: optionalString,
  REDIS_SENTINEL_PASSWORD: optionalString,
  REDIS_ALLOW_EVICTION: bool(false),
  GRAPHQL_MAX_DEPTH: z.preprocess(emptyToUndefined, num(2, 100).default(10)),
  GRAPHQL_MAX_ALIASES: z.preprocess(emptyToUndefined, num(1, 1000).default(30)),
  GRAPHQL_MAX_TOKENS: z.preprocess(emptyToUndefined, num(100, 100_000).default(2_000)),
  GRAPHQL_MAX_SELECTIONS: z.preprocess(emptyToUndefined, num(10, 100_000).default(300)),
  GRAPHQL_MAX_COST: z.preprocess(emptyToUndefined, num(100, 1_000_000).default(5_000)),
  GRAPHQL_APQ_TTL_SEC: z.preprocess(emptyToUndefined, num(60, 86_400 * 30).default(86_400)),
  GRAPHQL_TRUSTED_DOCUMENTS: optionalString,
  MAX_READINGS_PER_REQUEST: z.preprocess(emptyToUndefined, num(1, 10_000).default(100)),
  RATE_LIMIT_IP_PER_MIN: z.preprocess(emptyToUndefined, num(0, 1_000_000).default(600)),
  RATE_LIMIT_SESSION_PER_MIN: z.preprocess(emptyToUndefined, num(0, 1_000_000).default(300)),
  TRUST_PROXY: trustProxy,
  TOKEN_REFRESH_MARGIN_SEC: z.preprocess(emptyToUndefined, num(0, 3600).default(300)),
  TOKEN_REFRESH_LOCK_TTL_MS: z.preprocess(emptyToUndefined, num(500, 600_000).optional()),
  TOKEN_REFRESH_COOLDOWN_MS: z.preprocess(emptyToUndefined, num(0, 600_000).default(5_000)),
  TOKEN_SWEEP_AGE_DAYS: z.preprocess(emptyToUndefined, num(0, 59, false).default(50)),
  TOKEN_SWEEP_INTERVAL_SEC: z.preprocess(emptyToUndefined, num(0, 86_400 * 7).default(3_600)),
  SIMULATOR_HOST: z.preprocess(emptyToUndefined, z.string().min(1).default('127.0.0.1')),
  SIMULATOR_PORT: z.preprocess(emptyToUndefined, num(0, 65535).default(0)),
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  LOG_FORMAT: z.preprocess(emptyToUndefined, z.enum(['json', 'pretty', 'auto'], { message: 'must be "json", "pretty" or "auto"' }).default('auto')),
});

const PERMISSION = /^(required:)?[a-z_]{3,40}$/;

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.');
      // Numbers are never secrets: showing what was given makes a typo obvious.
      const given = NUMBER_MESSAGE.test(issue.message) ? `, got ${JSON.stringify(env[name])}` : '';
      const problem = `${name}: ${issue.message}${given}`;
      if (!problems.includes(problem)) problems.push(problem); // "-1.5" fails two checks with one message
    }
  }
  const e = parsed.success ? parsed.data : null;

  const id = env.SMARTCAR_CLIENT_ID || undefined;
  const secret = env.SMARTCAR_CLIENT_SECRET || undefined;
  if (Boolean(id) !== Boolean(secret)) {
    problems.push('SMARTCAR_CLIENT_ID and SMARTCAR_CLIENT_SECRET: set both (Smartcar) or neither (built-in simulator)');
  }
  const credentials = id && secret ? { clientId: id, clientSecret: secret } : null;
  if (!credentials && env.NODE_ENV === 'production') {
    problems.push('SMARTCAR_CLIENT_ID and SMARTCAR_CLIENT_SECRET: required when NODE_ENV=production (the built-in simulator is for development)');
  }

  const apiVersion = apiVersionOf(env, credentials, problems);

  const base64Key = (raw: string) => (/^[A-Za-z0-9+/]+={0,2}$/.test(raw) ? Buffer.from(raw, 'base64') : Buffer.alloc(0));
  let tokenKey: Config['tokenKey'] | null = null;
  const rawKey = env.TOKEN_ENCRYPTION_KEY || undefined;
  const previous = (env.TOKEN_ENCRYPTION_KEYS_PREVIOUS || '').split(',').map((k) => k.trim()).filter(Boolean).map(base64Key);
  if (previous.some((k) => k.length !== 32)) {
    problems.push('TOKEN_ENCRYPTION_KEYS_PREVIOUS: a comma-separated list of base64 keys of exactly 32 bytes each');
  }
  if (rawKey) {
    const key = base64Key(rawKey);
    if (key.length !== 32) problems.push('TOKEN_ENCRYPTION_KEY: must be the base64 of exactly 32 bytes (openssl rand -base64 32)');
    else tokenKey = { key, previous: previous.filter((k) => k.length === 32 && !k.equals(key)), generated: false };
  } else if (credentials) {
    problems.push('TOKEN_ENCRYPTION_KEY: required when Smartcar credentials are set (openssl rand -base64 32)');
  } else {
    if (previous.length) problems.push('TOKEN_ENCRYPTION_KEYS_PREVIOUS: only with TOKEN_ENCRYPTION_KEY');
    tokenKey = { key: randomBytes(32), previous: [], generated: true };
  }

  if (credentials && !(env.SMARTCAR_REDIRECT_URI || undefined)) {
    problems.push('SMARTCAR_REDIRECT_URI: required when Smartcar credentials are set (it must match the Connect URL and your Smartcar dashboard)');
  }

  const scope = (env.SMARTCAR_SCOPE || undefined)?.split(/[\s,]+/).filter(Boolean) ?? DEFAULT_SCOPE;
  const badScope = scope.filter((s) => !PERMISSION.test(s));
  if (badScope.length) problems.push(`SMARTCAR_SCOPE: not permission names: ${badScope.join(', ')}`);

  const refresh = e ? refreshTiming(e, problems) : null;

  const hostPorts = (name: string, raw: string | undefined) => {
    if (!raw) return null;
    const list = raw.split(',').map((x) => x.trim()).filter(Boolean).map((x) => /^([^\s:]+):(\d{1,5})$/.exec(x));
    if (list.length === 0 || list.some((m) => !m)) {
      problems.push(`${name}: a comma-separated list of host:port`);
      return null;
    }
    return list.map((m) => ({ host: m![1]!, port: Number(m![2]) }));
  };
  const clusterNodes = hostPorts('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES || undefined);
  const sentinels = hostPorts('REDIS_SENTINELS', env.REDIS_SENTINELS || undefined);
  if (sentinels && !(env.REDIS_SENTINEL_NAME || undefined)) problems.push('REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the master group name)');
  if (clusterNodes && sentinels) problems.push('REDIS_CLUSTER_NODES and REDIS_SENTINELS: choose one');

  if (problems.length || !e || !tokenKey || !refresh) throw new ConfigError(problems);

  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    redis: {
      url: e.REDIS_URL,
      keyPrefix: e.REDIS_KEY_PREFIX,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      clusterNodes,
      sentinel: sentinels
        ? { sentinels, name: e.REDIS_SENTINEL_NAME!, username: e.REDIS_SENTINEL_USERNAME ?? null, password: e.REDIS_SENTINEL_PASSWORD ?? null }
        : null,
      allowEviction: e.REDIS_ALLOW_EVICTION,
    },
    smartcar: {
      credentials,
      redirectUri: e.SMARTCAR_REDIRECT_URI ?? null,
      mode: e.SMARTCAR_MODE,
      requireState: e.SMARTCAR_REQUIRE_STATE,
      scope,
      origins: {
        auth: e.SMARTCAR_AUTH_ORIGIN ?? null,
        api: e.SMARTCAR_API_ORIGIN ?? null,
        management: e.SMARTCAR_MANAGEMENT_API_ORIGIN ?? null,
      },
      timeoutMs: e.SMARTCAR_TIMEOUT_MS,
      tokenTimeoutMs: refresh.tokenTimeoutMs,
      unitSystem: e.SMARTCAR_UNIT_SYSTEM,
      apiVersion,
      v3: {
        applicationId: e.SMARTCAR_APPLICATION_ID ?? null,
        origins: {
          iam: e.SMARTCAR_IAM_ORIGIN ?? V3_ORIGINS.iam,
          api: e.SMARTCAR_API_V3_ORIGIN ?? V3_ORIGINS.api,
          management: e.SMARTCAR_MANAGEMENT_API_V3_ORIGIN ?? V3_ORIGINS.management,
          connect: e.SMARTCAR_CONNECT_ORIGIN ?? V3_ORIGINS.connect,
        },
      },
      managementToken: e.SMARTCAR_MANAGEMENT_TOKEN ?? null,
      webhookId: e.SMARTCAR_WEBHOOK_ID ?? null,
    },
    graphql: { apqTtlSec: e.GRAPHQL_APQ_TTL_SEC, trustedDocuments: e.GRAPHQL_TRUSTED_DOCUMENTS ?? null },
    signals: { defaultMaxAgeSec: e.SIGNAL_MAX_AGE_SEC },
    limits: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxSelections: e.GRAPHQL_MAX_SELECTIONS,
      maxCost: e.GRAPHQL_MAX_COST,
      maxReadingsPerRequest: e.MAX_READINGS_PER_REQUEST,
      ratePerMinuteByIp: e.RATE_LIMIT_IP_PER_MIN,
      ratePerMinuteBySession: e.RATE_LIMIT_SESSION_PER_MIN,
      trustProxy: e.TRUST_PROXY,
    },
    refresh: {
      marginSec: e.TOKEN_REFRESH_MARGIN_SEC,
      lockTtlMs: refresh.lockTtlMs,
      graceMs: refresh.graceMs,
      cooldownMs: e.TOKEN_REFRESH_COOLDOWN_MS,
      sweepAgeDays: e.TOKEN_SWEEP_AGE_DAYS,
      sweepIntervalSec: e.TOKEN_SWEEP_INTERVAL_SEC,
    },
    simulator: { host: e.SIMULATOR_HOST, port: e.SIMULATOR_PORT },
    tokenKey,
    session: {
      cookieSecure: e.COOKIE_SECURE === undefined ? e.NODE_ENV === 'production' : e.COOKIE_SECURE === 'true',
      unconnectedTtlSec: 86_400,
    },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
  };
}

/**
 * SMARTCAR_API_VERSION, or what the credentials say: Smartcar's v3 API credentials are `client_…`
 * ids (the prefix is how integrations tell them apart). The simulator speaks v2 unless asked, so the
 * Smartcar tutorial apps work unchanged. v3 needs the Application ID for Connect.
 */
function apiVersionOf(env: Record<string, string | undefined>, credentials: { clientId: string } | null, problems: string[]): 2 | 3 {
  const given = env.SMARTCAR_API_VERSION || undefined;
  const v3Id = credentials?.clientId.startsWith('client_') ?? false;
  const version = given === '3' ? 3 : given === '2' ? 2 : v3Id ? 3 : 2;
  if (version === 3 && credentials && !(env.SMARTCAR_APPLICATION_ID || undefined)) {
    problems.push('SMARTCAR_APPLICATION_ID: required with SMARTCAR_API_VERSION=3 (the Application ID Connect takes, from the Smartcar dashboard)');
  }
  if (given === '2' && v3Id) problems.push('SMARTCAR_CLIENT_ID: a client_… id is an API v3 credential; set SMARTCAR_API_VERSION=3 (or use the v2 client id)');
  return version;
}

/**
 * The deadlines of a refresh, bounded well inside Smartcar's grace window: when a token call's outcome
 * is unknown (Smartcar may have rotated the pair), the gateway retries with the same refresh token, and
 * that works only while the window lasts. A quarter of the window per call leaves room for retries; the
 * lock outlives a call (a live holder never loses it) but not half the window (a dead holder's lock
 * must not use the window up).
 */
function refreshTiming(
  e: { SMARTCAR_TIMEOUT_MS: number; SMARTCAR_TOKEN_TIMEOUT_MS?: number | undefined; SMARTCAR_REFRESH_GRACE_SEC: number; TOKEN_REFRESH_LOCK_TTL_MS?: number | undefined },
  problems: string[],
): { tokenTimeoutMs: number; lockTtlMs: number; graceMs: number } {
  const graceMs = e.SMARTCAR_REFRESH_GRACE_SEC * 1000;
  const tokenTimeoutMs = e.SMARTCAR_TOKEN_TIMEOUT_MS ?? Math.min(e.SMARTCAR_TIMEOUT_MS, 10_000, Math.floor(graceMs / 4));
  const lockTtlMs = e.TOKEN_REFRESH_LOCK_TTL_MS ?? Math.min(tokenTimeoutMs + 5_000, Math.floor(graceMs / 2));
  if (tokenTimeoutMs > graceMs / 4) {
    problems.push(
      `SMARTCAR_TOKEN_TIMEOUT_MS: at most a quarter of SMARTCAR_REFRESH_GRACE_SEC (${graceMs / 4} ms), so a refresh whose outcome is unknown can be retried while Smartcar still honours the old refresh token`,
    );
  }
  if (lockTtlMs <= tokenTimeoutMs) {
    problems.push('TOKEN_REFRESH_LOCK_TTL_MS: must exceed the token call deadline (SMARTCAR_TOKEN_TIMEOUT_MS), or a slow refresh could lose its lock to a second one');
  }
  if (lockTtlMs > graceMs / 2) {
    problems.push(`TOKEN_REFRESH_LOCK_TTL_MS: at most half of SMARTCAR_REFRESH_GRACE_SEC (${graceMs / 2} ms), so the lock of a crashed refresh expires while its pair can still be recovered`);
  }
  return { tokenTimeoutMs, lockTtlMs, graceMs };
}

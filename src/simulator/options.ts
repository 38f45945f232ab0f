import { ALL_PERMISSIONS } from './permissions';
import { DEFAULT_V3, type V3Credentials } from './v3/credentials';
import { resolveV3Options, V3_MUTABLE_SETTINGS, type V3Options } from './v3/settings';

/** An application registered with the (simulated) Smartcar, as on Smartcar's dashboard. */
export interface SimClient {
  /** The application's name, shown on the consent page (Smartcar's dashboard asks for one). */
  name?: string;
  clientId: string;
  clientSecret: string;
  /** Allowed redirect URIs; `null` accepts any absolute URI (http, https or a custom scheme). */
  redirectUris: string[] | null;
  /** Permissions asked for when a Connect URL carries no `scope` (the dashboard's configuration). */
  defaultScopes: string[];
  /** Its API v3 credentials; omitted: derived from `clientSecret`. */
  v3?: V3Credentials;
}

/** The simulator's built-in application: `npm start` and `npm run simulator` use it by default. */
export const DEFAULT_CLIENT: SimClient = {
  name: 'Local development app',
  clientId: '9d3a2a50-5d1c-4e5f-9a57-51a7c0ffee01',
  clientSecret: 'simulator-secret-0f8e7c6d5b4a39281706f5e4',
  redirectUris: null,
  defaultScopes: ALL_PERMISSIONS,
  v3: DEFAULT_V3,
};

export interface SimulatorOptions extends V3Options {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  clients?: SimClient[];
  /** Access-token lifetime; Smartcar's is 7200 s. Tests shorten it to expire tokens quickly. */
  accessTokenTtlSec?: number;
  /** Refresh-token lifetime; Smartcar's is 60 days. */
  refreshTokenTtlSec?: number;
  /** How long a used refresh token keeps working after rotation; Smartcar's is about 60 s. */
  refreshGraceSec?: number;
  /** Authorization-code lifetime; Smartcar's is 10 minutes. */
  codeTtlSec?: number;
  /** Added before every answer (auth, token and API), to imitate a slow vehicle API. */
  latencyMs?: number;
  /** The `retry-after` (seconds) of the rate-limited test vehicle. */
  retryAfterSec?: number;
  /**
   * Whether error items of a batch carry `headers`. Real Smartcar has sent them without (which
   * crashes smartcar-node 10.4 with a TypeError); set false to reproduce that.
   */
  batchErrorHeaders?: boolean;
  /** The request record keeps at most this many entries (oldest dropped first). */
  maxRecordedRequests?: number;
  /** The clock, in epoch ms. */
  now?: () => number;
}

export type ResolvedOptions = Required<Omit<SimulatorOptions, 'host' | 'port'>>;

export function resolveOptions(o: SimulatorOptions): ResolvedOptions {
  return {
    clients: o.clients ?? [DEFAULT_CLIENT],
    accessTokenTtlSec: o.accessTokenTtlSec ?? 7200,
    refreshTokenTtlSec: o.refreshTokenTtlSec ?? 60 * 86_400,
    refreshGraceSec: o.refreshGraceSec ?? 60,
    codeTtlSec: o.codeTtlSec ?? 600,
    latencyMs: o.latencyMs ?? 0,
    retryAfterSec: o.retryAfterSec ?? 60,
    batchErrorHeaders: o.batchErrorHeaders ?? true,
    maxRecordedRequests: o.maxRecordedRequests ?? 10_000,
    now: o.now ?? Date.now,
    ...resolveV3Options(o),
  };
}

/** The settings a running simulator lets tests change (`PATCH /__simulator/config`). */
export const MUTABLE_SETTINGS = [
  'accessTokenTtlSec',
  'refreshTokenTtlSec',
  'refreshGraceSec',
  'codeTtlSec',
  'latencyMs',
  'retryAfterSec',
  'batchErrorHeaders',
  ...V3_MUTABLE_SETTINGS,
] as const;
export type MutableSettings = Pick<ResolvedOptions, (typeof MUTABLE_SETTINGS)[number]>;

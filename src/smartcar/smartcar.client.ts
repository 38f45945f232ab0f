import smartcar from 'smartcar';
import { UpstreamError, type SmartcarDetails } from '../errors';
import { metrics } from '../metrics';

/**
 * The one place that imports the `smartcar` SDK: a typed wrapper that normalises every failure into
 * UpstreamError. The SDK reads its origins from process.env (the auth origin once, at AuthClient
 * construction), so they are applied here from Config before the client is built.
 */

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Epoch ms; the SDK estimates 60 days from receipt. */
  refreshExpiresAt: number;
}

export interface AuthUrlInput {
  scope: string[];
  state?: string;
  forcePrompt?: boolean;
  make?: string;
  singleSelectVin?: string;
}

/** One vehicle-data answer: Smartcar's body and the metadata of its headers. */
export interface Reading {
  body: Record<string, unknown>;
  /** Epoch ms the car recorded it (`sc-data-age`), if sent. */
  dataAge: number | null;
  /** Epoch ms Smartcar fetched it from the car or OEM (`sc-fetched-at`), if sent. */
  fetchedAt: number | null;
}

export type Command = 'lock' | 'unlock' | 'startCharge' | 'stopCharge';

export interface CommandResult {
  status: string;
  message: string | null;
}

export type UnitSystem = 'metric' | 'imperial';

/** The Smartcar operations the gateway uses. Unit tests may fake it; integration tests use the SDK. */
export interface SmartcarApi {
  authUrl(input: AuthUrlInput): string;
  exchangeCode(code: string): Promise<TokenPair>;
  refreshTokens(refreshToken: string): Promise<TokenPair>;
  userId(accessToken: string): Promise<string>;
  /** Every vehicle the token reaches, across all pages. */
  vehicleIds(accessToken: string): Promise<string[]>;
  /**
   * Reads `paths` of one vehicle in one upstream request: a plain GET for one path, `POST /batch`
   * for several. Never throws for Smartcar's answers: each path gets its Reading or its failure.
   */
  vehicleData(accessToken: string, vehicleId: string, paths: string[], unitSystem: UnitSystem): Promise<Map<string, Reading | UpstreamError>>;
  /** The permissions the driver granted (names without `required:`). */
  permissions(accessToken: string, vehicleId: string): Promise<string[]>;
  command(accessToken: string, vehicleId: string, command: Command): Promise<CommandResult>;
  /** Revokes this application's access to the vehicle (`DELETE /application`). */
  disconnect(accessToken: string, vehicleId: string): Promise<void>;
}

export interface SmartcarClientOptions {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  mode: 'live' | 'test' | 'simulated';
  timeoutMs: number;
  /** Deadline of token-endpoint calls (code exchange, refresh), usually shorter than `timeoutMs`. */
  tokenTimeoutMs: number;
  origins: { auth: string | null; api: string | null; management: string | null };
}

/** Smartcar's maximum page size for `/vehicles`; the cap bounds a misbehaving upstream. */
const PAGE_SIZE = 50;
const MAX_PAGES = 40;

const ORIGIN_VARIABLES = {
  auth: 'SMARTCAR_AUTH_ORIGIN',
  api: 'SMARTCAR_API_ORIGIN',
  management: 'SMARTCAR_MANAGEMENT_API_ORIGIN',
} as const;

/** Points the SDK at the configured origins (its only way to take them) and sets its fetch deadline. */
function configureSdk(options: SmartcarClientOptions): void {
  for (const [key, variable] of Object.entries(ORIGIN_VARIABLES)) {
    const value = options.origins[key as keyof typeof ORIGIN_VARIABLES];
    if (value) process.env[variable] = value;
    else delete process.env[variable];
  }
  // The SDK's services read this shared object when they are built; its default is 310 s.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('smartcar/lib/config.json') as { timeout: number }).timeout = options.timeoutMs;
}

function retryAfterSeconds(raw: unknown): number | null {
  const n = typeof raw === 'string' || typeof raw === 'number' ? Number(raw) : NaN;
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n) : null;
}

/** Whatever the SDK threw, as an UpstreamError; programming errors are rethrown unchanged. */
export function normalizeSdkError(err: unknown): UpstreamError {
  const e = err as Record<string, unknown> | null;
  if (e && e.name === 'SmartcarError') {
    const status = typeof e.statusCode === 'number' ? e.statusCode : null;
    const resolution = e.resolution as { type?: string | null } | undefined;
    const details: SmartcarDetails = {
      type: typeof e.type === 'string' ? e.type : null,
      code: typeof e.code === 'string' ? e.code : null,
      requestId: typeof e.requestId === 'string' ? e.requestId : null,
      resolution: resolution?.type ?? null,
      suggestedUserMessage: typeof e.suggestedUserMessage === 'string' ? e.suggestedUserMessage : null,
      retryAfter: retryAfterSeconds(e.retryAfter),
    };
    const kind = status === 408 && details.type === null ? 'timeout' : 'response';
    return new UpstreamError(kind, status, details, { cause: err });
  }
  const empty: SmartcarDetails = { type: null, code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null };
  if (e && (e.name === 'TimeoutError' || e.name === 'AbortError')) return new UpstreamError('timeout', null, empty, { cause: err });
  if (e && e.name === 'TypeError' && e.message === 'fetch failed') return new UpstreamError('network', null, empty, { cause: err });
  throw err;
}

function count(path: string, outcome: UpstreamError | null): void {
  metrics.upstream.inc({ path, status: outcome === null ? '200' : outcome.kind === 'response' ? String(outcome.status) : outcome.kind });
}

/** One SDK call, counted under `path` (a route shape, never an id), failures normalised. */
async function call<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    const result = await fn();
    count(path, null);
    return result;
  } catch (err) {
    const failure = normalizeSdkError(err);
    count(path, failure);
    throw failure;
  }
}

const EMPTY_DETAILS: SmartcarDetails = { type: null, code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null };

const time = (v: unknown): number | null => {
  const t = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? t : null;
};

/** A batch item's failure. Parsed here rather than by the SDK's thunks, which report the batch's
 * status (200) instead of the item's and crash with a TypeError when an item has no headers. */
function itemError(code: number, body: unknown, headers: Record<string, unknown> | undefined, outerRequestId: string | null): UpstreamError {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const h = Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const resolution = b.resolution as { type?: string | null } | string | undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return new UpstreamError('response', code, {
    type: str(b.type) ?? str(b.error),
    code: str(b.code),
    requestId: str(b.requestId) ?? str(h['sc-request-id']) ?? outerRequestId,
    resolution: typeof resolution === 'string' ? resolution : (resolution?.type ?? null),
    suggestedUserMessage: str(b.suggestedUserMessage),
    retryAfter: retryAfterSeconds(h['retry-after'] ?? b.retryAfter),
  });
}

async function readVehicle(vehicle: smartcar.Vehicle, paths: string[]): Promise<Map<string, Reading | UpstreamError>> {
  const out = new Map<string, Reading | UpstreamError>();
  const label = paths.length === 1 ? paths[0]! : '/batch';
  try {
    if (paths.length === 1) {
      const res = await vehicle.request('get', paths[0]!.replace(/^\//, ''));
      out.set(paths[0]!, { body: res.body as Record<string, unknown>, dataAge: time(res.meta.dataAge), fetchedAt: time(res.meta.fetchedAt) });
      count(label, null);
      return out;
    }
    const res = await vehicle.request('post', 'batch', { requests: paths.map((path) => ({ path })) });
    count(label, null);
    const outerId = res.meta.requestId ?? null;
    const responses = ((res.body as { responses?: unknown }).responses ?? []) as { path?: string; code?: number; body?: unknown; headers?: Record<string, unknown> }[];
    for (const item of responses) {
      if (typeof item.path !== 'string' || !paths.includes(item.path)) continue;
      const h = Object.fromEntries(Object.entries(item.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      out.set(
        item.path,
        item.code === 200 || item.code === 204
          ? { body: (item.body ?? {}) as Record<string, unknown>, dataAge: time(h['sc-data-age']), fetchedAt: time(h['sc-fetched-at']) }
          : itemError(Number(item.code) || 502, item.body, item.headers, outerId),
      );
    }
  } catch (err) {
    const failure = normalizeSdkError(err);
    count(label, failure);
    for (const p of paths) out.set(p, failure);
  }
  // A path Smartcar left out of its answer.
  for (const p of paths) if (!out.has(p)) out.set(p, new UpstreamError('response', 502, { ...EMPTY_DETAILS, type: 'UPSTREAM', code: 'MISSING_ITEM' }));
  return out;
}

/**
 * Gives up on `work` after `ms` with a timeout failure. The SDK's request goes on in the background
 * (it takes no abort signal) and its answer is dropped: for a refresh that means an unknown outcome,
 * which the token provider recovers from.
 */
async function withDeadline<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { name: 'TimeoutError' })), ms);
  });
  work.catch(() => undefined); // a late failure after the deadline is nobody's to handle
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function pairOf(access: smartcar.Access): TokenPair {
  return {
    accessToken: access.accessToken,
    refreshToken: access.refreshToken,
    expiresAt: access.expiration.getTime(),
    refreshExpiresAt: access.refreshExpiration.getTime(),
  };
}

export function createSmartcarClient(options: SmartcarClientOptions): SmartcarApi {
  configureSdk(options);
  const auth = new smartcar.AuthClient({
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    redirectUri: options.redirectUri,
    mode: options.mode,
  });

  return {
    authUrl: (input) =>
      // Our names differ from the SDK's: make → makeBypass, singleSelectVin → singleSelect: {vin}.
      auth.getAuthUrl(input.scope, {
        ...(input.state !== undefined && { state: input.state }),
        ...(input.forcePrompt !== undefined && { forcePrompt: input.forcePrompt }),
        ...(input.make !== undefined && { makeBypass: input.make }),
        ...(input.singleSelectVin !== undefined && { singleSelect: { vin: input.singleSelectVin } }),
      }),
    exchangeCode: (code) => call('/oauth/token', async () => pairOf(await withDeadline(options.tokenTimeoutMs, auth.exchangeCode(code)))),
    refreshTokens: (refreshToken) => call('/oauth/token', async () => pairOf(await withDeadline(options.tokenTimeoutMs, auth.exchangeRefreshToken(refreshToken)))),
    userId: (accessToken) => call('/user', async () => (await smartcar.getUser(accessToken)).id),
    vehicleIds: (accessToken) =>
      call('/vehicles', async () => {
        const ids: string[] = [];
        for (let page = 0; page < MAX_PAGES; page++) {
          const res = await smartcar.getVehicles(accessToken, { limit: PAGE_SIZE, offset: ids.length });
          ids.push(...res.vehicles);
          if (res.vehicles.length === 0 || ids.length >= res.paging.count) break;
        }
        return ids;
      }),
    vehicleData: (accessToken, vehicleId, paths, unitSystem) => readVehicle(new smartcar.Vehicle(vehicleId, accessToken, { unitSystem }), paths),
    permissions: (accessToken, vehicleId) =>
      call('/permissions', async () => {
        const res = await new smartcar.Vehicle(vehicleId, accessToken).permissions({ limit: 100 });
        return res.permissions;
      }),
    command: (accessToken, vehicleId, command) =>
      call(command === 'lock' || command === 'unlock' ? 'POST /security' : 'POST /charge', async () => {
        const res = await new smartcar.Vehicle(vehicleId, accessToken)[command]();
        return { status: res.status, message: res.message ?? null };
      }),
    disconnect: (accessToken, vehicleId) =>
      call('DELETE /application', async () => {
        await new smartcar.Vehicle(vehicleId, accessToken).disconnect();
      }),
  };
}

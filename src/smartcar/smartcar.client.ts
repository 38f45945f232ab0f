import smartcar from 'smartcar';
import { UpstreamError, type SmartcarDetails } from '../errors';

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

export interface VehicleAttributes {
  id: string;
  make: string;
  model: string;
  year: number;
}

export interface AuthUrlInput {
  scope: string[];
  state?: string;
  forcePrompt?: boolean;
  make?: string;
  singleSelectVin?: string;
}

/** The Smartcar operations the gateway uses. Unit tests may fake it; integration tests use the SDK. */
export interface SmartcarApi {
  authUrl(input: AuthUrlInput): string;
  exchangeCode(code: string): Promise<TokenPair>;
  refreshTokens(refreshToken: string): Promise<TokenPair>;
  userId(accessToken: string): Promise<string>;
  /** Every vehicle the token reaches, across all pages. */
  vehicleIds(accessToken: string): Promise<string[]>;
  attributes(accessToken: string, vehicleId: string): Promise<VehicleAttributes>;
}

export interface SmartcarClientOptions {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  mode: 'live' | 'test' | 'simulated';
  timeoutMs: number;
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

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw normalizeSdkError(err);
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
    exchangeCode: (code) => call(async () => pairOf(await auth.exchangeCode(code))),
    refreshTokens: (refreshToken) => call(async () => pairOf(await auth.exchangeRefreshToken(refreshToken))),
    userId: (accessToken) => call(async () => (await smartcar.getUser(accessToken)).id),
    vehicleIds: (accessToken) =>
      call(async () => {
        const ids: string[] = [];
        for (let page = 0; page < MAX_PAGES; page++) {
          const res = await smartcar.getVehicles(accessToken, { limit: PAGE_SIZE, offset: ids.length });
          ids.push(...res.vehicles);
          if (res.vehicles.length === 0 || ids.length >= res.paging.count) break;
        }
        return ids;
      }),
    attributes: (accessToken, vehicleId) =>
      call(async () => {
        const a = await new smartcar.Vehicle(vehicleId, accessToken).attributes();
        return { id: a.id, make: a.make, model: a.model, year: a.year };
      }),
  };
}

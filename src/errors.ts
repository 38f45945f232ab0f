/**
 * The error vocabulary of the README's "Error codes": public codes, their HTTP statuses for the REST
 * routes, and the one mapping from Smartcar failures to them. Resolvers and routes throw AppError;
 * anything else that reaches the edge is masked as INTERNAL_SERVER_ERROR and logged.
 */

export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'RECONNECT_REQUIRED',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'PERMISSION_DENIED',
  'VEHICLE_STATE',
  'COMPATIBILITY',
  'RATE_LIMITED',
  'BILLING',
  'UPSTREAM_UNAVAILABLE',
  'SERVICE_UNAVAILABLE',
  'INTERNAL_SERVER_ERROR',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const HTTP_STATUS: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  RECONNECT_REQUIRED: 401,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  PERMISSION_DENIED: 403,
  VEHICLE_STATE: 409,
  COMPATIBILITY: 501,
  RATE_LIMITED: 429,
  BILLING: 402,
  UPSTREAM_UNAVAILABLE: 502,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
};

/** What Smartcar said, passed through to clients in `extensions.smartcar` (nothing else of it). */
export interface SmartcarDetails {
  type: string | null;
  code: string | null;
  requestId: string | null;
  resolution: string | null;
  suggestedUserMessage: string | null;
  retryAfter: number | null;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extensions: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

/** The process cannot start (Redis unreachable, ...): main prints the message alone and exits 1. */
export class StartupError extends Error {}

export const unauthenticated = (message = 'Sign in first: no valid session.') => new AppError('UNAUTHENTICATED', message);
export const badInput = (message: string, extensions: Record<string, unknown> = {}) => new AppError('BAD_USER_INPUT', message, extensions);
/** A vehicle id that is not one of the session's (queries, commands and subscriptions alike). */
export const notInSession = () => new AppError('NOT_FOUND', 'No such vehicle in this session.');
/** The driver did not grant `scope` to the connection (checked before anything is spent). */
export const permissionDenied = (scope: string) => new AppError('PERMISSION_DENIED', `The driver did not grant ${scope}.`, { scope });
/** A non-null field a subscription cannot answer: its reading is not cached, and a subscription never asks Smartcar. */
export const notCached = (field: string) =>
  new AppError('NOT_FOUND', `${field} is not in the gateway's cache yet, and a subscription never asks Smartcar: read the vehicle once with a query, then it is.`, { field });
export const serviceUnavailable = (cause: unknown) =>
  new AppError('SERVICE_UNAVAILABLE', 'The gateway cannot reach its session store. Try again shortly.', {}, { cause });

/**
 * A failed call to Smartcar, normalised by src/smartcar from whatever the SDK threw (a SmartcarError,
 * a batch item's error, `TypeError: fetch failed`, a 408 timeout).
 */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'response' | 'network' | 'timeout',
    /** HTTP status of the failed response (of the item, inside a batch); null for network failures. */
    readonly status: number | null,
    readonly details: SmartcarDetails,
    options?: { cause?: unknown },
  ) {
    super(`Smartcar ${kind} failure${status ? ` ${status}` : ''}${details.type ? ` ${details.type}:${details.code}` : ''}`, options);
    this.name = 'UpstreamError';
  }

  /**
   * The access token was not accepted (expired early, or revoked): refresh once, then retry. Not v3's
   * `403 AUTHENTICATION/ACCESS_DENIED`: the token is fine, the driver's connection is gone.
   */
  get isAuthentication(): boolean {
    return this.details.type === 'AUTHENTICATION' && this.status !== 403;
  }

  /** The token endpoint refused a code or refresh token (expired, used, revoked, wrong redirect URI). */
  get isInvalidGrant(): boolean {
    return this.details.type === 'invalid_grant';
  }
}

export type Phase = 'exchange' | 'refresh' | 'api';

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  RECONNECT_REQUIRED: 'Smartcar no longer accepts this connection. Connect the vehicle again.',
  PERMISSION_DENIED: 'The driver did not grant the permission this needs.',
  VEHICLE_STATE: 'The vehicle cannot do this in its current state.',
  COMPATIBILITY: 'The vehicle does not support this.',
  RATE_LIMITED: 'Too many requests to this vehicle. Retry later.',
  BILLING: 'The Smartcar account has reached a billing limit.',
  UPSTREAM_UNAVAILABLE: 'Smartcar is not answering right now. Try again shortly.',
  INTERNAL_SERVER_ERROR: 'Internal server error',
};

function codeFor(e: UpstreamError, phase: Phase): ErrorCode {
  if (e.kind !== 'response') return 'UPSTREAM_UNAVAILABLE';
  const type = e.details.type;
  switch (type) {
    case 'invalid_grant':
      return phase === 'exchange' ? 'BAD_USER_INPUT' : 'RECONNECT_REQUIRED';
    case 'invalid_request':
    case 'unsupported_grant_type':
    case 'invalid_client':
      return 'INTERNAL_SERVER_ERROR'; // our configuration or our bug: never the user's to fix
    case 'AUTHENTICATION':
      return 'RECONNECT_REQUIRED';
    case 'PERMISSION':
      return 'PERMISSION_DENIED';
    case 'CONNECTED_SERVICES_ACCOUNT':
      // The driver must act at the manufacturer (re-login, subscription, virtual key).
      return e.details.code === 'AUTHENTICATION_FAILED' ? 'RECONNECT_REQUIRED' : 'VEHICLE_STATE';
    case 'VEHICLE_STATE':
      return 'VEHICLE_STATE';
    case 'COMPATIBILITY':
      return 'COMPATIBILITY';
    case 'RATE_LIMIT':
      return 'RATE_LIMITED';
    case 'BILLING':
      return 'BILLING';
    case 'SERVER':
    case 'UPSTREAM':
    case 'server_error':
    case 'temporarily_unavailable':
      return 'UPSTREAM_UNAVAILABLE';
    case 'RESOURCE_NOT_FOUND':
      // v3: the driver's connection to this vehicle is gone (ended at Smartcar or by the driver).
      return e.details.code === 'VEHICLE_NOT_FOUND' ? 'RECONNECT_REQUIRED' : 'INTERNAL_SERVER_ERROR';
    case 'VALIDATION':
      return 'INTERNAL_SERVER_ERROR';
    default:
      // No type (an HTML page, an unparseable body) or one we do not know: judge by status.
      return (e.status ?? 500) >= 500 || e.status === 408 ? 'UPSTREAM_UNAVAILABLE' : 'INTERNAL_SERVER_ERROR';
  }
}

/** Maps a Smartcar failure to the public vocabulary; `phase` decides what `invalid_grant` means. */
export function fromUpstream(e: UpstreamError, phase: Phase): AppError {
  const code = codeFor(e, phase);
  const message = code === 'BAD_USER_INPUT' ? 'Smartcar rejected the authorization code (expired, already used, or for another redirect URI).' : MESSAGES[code]!;
  const extensions: Record<string, unknown> = e.kind === 'response' ? { smartcar: e.details } : {};
  if (code === 'RATE_LIMITED' && e.details.retryAfter !== null) extensions.retryAfter = e.details.retryAfter;
  return new AppError(code, message, extensions, { cause: e });
}

/** Any error to the public vocabulary: AppError passes, UpstreamError maps, the rest is internal. */
export function toAppError(err: unknown, phase: Phase = 'api'): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof UpstreamError) return fromUpstream(err, phase);
  return new AppError('INTERNAL_SERVER_ERROR', MESSAGES.INTERNAL_SERVER_ERROR!, {}, { cause: err });
}

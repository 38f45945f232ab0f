import { randomUUID } from 'node:crypto';

/**
 * Smartcar's error envelopes, byte-for-byte in shape: the v2.0 API body
 * (`{type, code, description, docURL, statusCode, requestId, resolution, suggestedUserMessage}`)
 * and the OAuth body of the token endpoint (`{error, error_description}`).
 */

export type ResolutionType = 'RETRY_LATER' | 'REAUTHENTICATE' | 'CONTACT_SUPPORT' | null;

export interface ApiErrorBody {
  type: string;
  code: string | null;
  description: string;
  docURL: string;
  statusCode: number;
  requestId: string;
  resolution: { type: ResolutionType };
  suggestedUserMessage: string;
  /** VALIDATION only: what is wrong, field by field. */
  detail?: { field?: string; message: string }[];
}

/** Smartcar's docURL: the page of the type and the code as an anchor, both lowercase-hyphen (`#charging-plug-not-connected`). */
export function docUrlOf(type: string, code: string | null): string {
  const slug = (s: string) => s.toLowerCase().replace(/_/g, '-');
  return `https://smartcar.com/docs/errors/api-errors/${slug(type)}-errors#${code === null ? 'null' : slug(code)}`;
}

/** A v2.0 API error: thrown by endpoint handlers, rendered by the API router (or into a batch item). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string | null,
    readonly description: string,
    readonly resolution: ResolutionType = null,
    readonly suggestedUserMessage = 'Something went wrong. Please try again later.',
    /** Seconds, sent as the `retry-after` header (rate limits). */
    readonly retryAfter: number | null = null,
    readonly detail: { field?: string; message: string }[] | null = null,
  ) {
    super(`${type}:${code} - ${description}`);
  }

  body(requestId: string): ApiErrorBody {
    return {
      type: this.type,
      code: this.code,
      description: this.description,
      docURL: docUrlOf(this.type, this.code),
      statusCode: this.status,
      requestId,
      resolution: { type: this.resolution },
      suggestedUserMessage: this.suggestedUserMessage,
      ...(this.detail && { detail: this.detail }),
    };
  }

  headers(): Record<string, string> {
    return this.retryAfter === null ? {} : { 'retry-after': String(this.retryAfter) };
  }
}

const VALIDATION_DESCRIPTION = 'Request invalid or malformed. Please check for missing parameters, spelling and casing mistakes, and other syntax issues.';
const VALIDATION_USER_MESSAGE = "Your car is temporarily unable to connect to this app. Please be patient while we're working to resolve this issue.";

export const apiErrors = {
  authentication: () =>
    new ApiError(
      401,
      'AUTHENTICATION',
      null,
      'The authorization header is missing or malformed, or it contains invalid or expired authentication credentials. Please check for missing parameters, spelling and casing mistakes, and other syntax issues.',
      null,
      'Please reconnect your vehicle.',
    ),
  /** Smartcar sends the same words whichever permission is missing. */
  permission: () =>
    new ApiError(
      403,
      'PERMISSION',
      null,
      'Your application has insufficient permissions to access the requested resource. Please prompt the user to re-authenticate using Smartcar Connect.',
      'REAUTHENTICATE',
      'Please grant this application the permission it needs.',
    ),
  /** A malformed parameter: Smartcar's generic words, and what is wrong in `detail`. */
  validation: (message: string, field?: string) =>
    new ApiError(400, 'VALIDATION', 'PARAMETER', VALIDATION_DESCRIPTION, null, VALIDATION_USER_MESSAGE, null, [{ ...(field && { field }), message }]),
  /** A request Smartcar cannot parse at all (a body that is not JSON). */
  malformed: () => new ApiError(400, 'VALIDATION', null, VALIDATION_DESCRIPTION, null, VALIDATION_USER_MESSAGE),
  pathNotFound: () =>
    new ApiError(404, 'RESOURCE_NOT_FOUND', 'PATH', 'The requested resource does not exist. Please check the URL and try again.'),
  versionNotFound: () =>
    new ApiError(404, 'RESOURCE_NOT_FOUND', 'VERSION', 'The requested API version does not exist. Please use version 2.0.'),
  asleep: () =>
    new ApiError(
      409,
      'VEHICLE_STATE',
      'ASLEEP',
      'The vehicle is in a sleep state and temporarily unable to perform your request.',
      'RETRY_LATER',
      'Your car is asleep. Please wake it up (for example by opening its app) and try again.',
    ),
  vehicleState: (code: string, description: string) =>
    new ApiError(409, 'VEHICLE_STATE', code, description, 'RETRY_LATER', 'Your car is not in a state to do this right now.'),
  rateLimited: (retryAfter: number) =>
    new ApiError(
      429,
      'RATE_LIMIT',
      'VEHICLE',
      'You have reached the throttling rate limit for this vehicle. Please see the retry-after header for when to retry the request.',
      'RETRY_LATER',
      'Your car is receiving too many requests. Please wait a moment and try again.',
      retryAfter,
    ),
  notCapable: (code: 'VEHICLE_NOT_CAPABLE' | 'SMARTCAR_NOT_CAPABLE', what: string) =>
    new ApiError(
      501,
      'COMPATIBILITY',
      code,
      code === 'VEHICLE_NOT_CAPABLE'
        ? `The vehicle is not capable of performing your request: ${what}.`
        : `Smartcar does not yet support this feature for this vehicle: ${what}.`,
      null,
      'Your car does not support this feature.',
    ),
  upstream: () =>
    new ApiError(
      502,
      'UPSTREAM',
      'UNKNOWN_ISSUE',
      "An unexpected error occurred while communicating with the vehicle manufacturer's servers.",
      'RETRY_LATER',
      'Your car manufacturer is having trouble. Please try again later.',
    ),
};

export function newRequestId(): string {
  return randomUUID();
}

/** The token endpoint's errors: RFC 6749 §5.2 bodies, as Smartcar's auth service sends them. */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly errorDescription: string,
  ) {
    super(`${error}: ${errorDescription}`);
  }

  body(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.errorDescription };
  }
}

/** The API error Smartcar sends with this status (for injected faults). */
export function apiErrorFor(status: number, retryAfterSec: number): ApiError {
  switch (status) {
    case 400:
      return apiErrors.malformed();
    case 401:
      return apiErrors.authentication();
    case 403:
      return apiErrors.permission();
    case 404:
      return apiErrors.pathNotFound();
    case 409:
      return apiErrors.asleep();
    case 429:
      return apiErrors.rateLimited(retryAfterSec);
    case 430:
      return new ApiError(430, 'BILLING', 'VEHICLE_REQUEST_LIMIT', 'You have reached the request limit for this vehicle in your plan.', 'CONTACT_SUPPORT');
    case 501:
      return apiErrors.notCapable('VEHICLE_NOT_CAPABLE', 'this request');
    case 502:
      return apiErrors.upstream();
    default:
      return new ApiError(status, 'SERVER', 'INTERNAL', 'An internal Smartcar error occurred.', 'RETRY_LATER');
  }
}

/** The token endpoint's error with this status (for injected faults). */
export function oauthErrorFor(status: number): OAuthError {
  if (status === 400) return new OAuthError(400, 'invalid_grant', 'Invalid or expired refresh token.');
  if (status === 401) return new OAuthError(401, 'invalid_client', 'Invalid or missing client credentials.');
  return new OAuthError(status, 'server_error', 'The authorization server is temporarily unavailable.');
}

import type { ApiError, ResolutionType } from '../errors';

/**
 * The v3 error envelope: `{errors: [{status, type, code, title, detail, links, resolution, ...}]}`,
 * `status` a string, the request id in `meta.debug`.
 */

export interface V3ErrorItem {
  status: string;
  type: string;
  code: string | null;
  title: string;
  detail: string;
  links: { about: string };
  resolution: { type: ResolutionType };
  suggestedUserMessage?: string;
  meta: { debug: { requestId: string } };
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  429: 'Too Many Requests',
  430: 'Billing Limit',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
};

/** Smartcar's lowercase-hyphen anchors: `VEHICLE_NOT_CAPABLE` → `#vehicle-not-capable`. */
export function docUrl(type: string, code: string | null): string {
  const slug = (s: string) => s.toLowerCase().replace(/_/g, '-');
  return `https://smartcar.com/docs/errors/api-errors/${slug(type)}-errors#${code === null ? 'null' : slug(code)}`;
}

export class V3Error extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string | null,
    readonly detail: string,
    readonly resolution: ResolutionType = null,
    readonly suggestedUserMessage: string | null = null,
    /** Seconds, sent as `retry-after`. */
    readonly retryAfter: number | null = null,
  ) {
    super(`${type}:${code} - ${detail}`);
  }

  item(requestId: string): V3ErrorItem {
    return {
      status: String(this.status),
      type: this.type,
      code: this.code,
      title: TITLES[this.status] ?? 'Error',
      detail: this.detail,
      links: { about: docUrl(this.type, this.code) },
      resolution: { type: this.resolution },
      ...(this.suggestedUserMessage !== null && { suggestedUserMessage: this.suggestedUserMessage }),
      meta: { debug: { requestId } },
    };
  }

  body(requestId: string): { errors: V3ErrorItem[] } {
    return { errors: [this.item(requestId)] };
  }

  headers(): Record<string, string> {
    return this.retryAfter === null ? {} : { 'retry-after': String(this.retryAfter) };
  }

  /** What a signal's `status.error` or a failed execution carries. */
  short(): { type: string; code: string | null; description: string; resolution: { type: ResolutionType } } {
    return { type: this.type, code: this.code, description: this.detail, resolution: { type: this.resolution } };
  }
}

/** The same failure as the v2 API reports it (asleep, rate limit, upstream…), in the v3 envelope. */
export function fromV2(e: ApiError): V3Error {
  return new V3Error(e.status, e.type, e.code, e.description, e.resolution, e.suggestedUserMessage, e.retryAfter);
}

export const v3Errors = {
  unauthorized: () => new V3Error(401, 'AUTHENTICATION', 'UNAUTHORIZED', 'The Authorization token is missing or invalid.'),
  accessDenied: () =>
    new V3Error(403, 'AUTHENTICATION', 'ACCESS_DENIED', 'The given token does not provide access to the requested resource.'),
  missingUserId: () => new V3Error(400, 'VALIDATION', 'MISSING_PARAMETER', 'missing userId'),
  validation: (detail: string) => new V3Error(400, 'VALIDATION', 'INVALID_INPUT_FORMAT', detail),
  permission: (scope: string) =>
    new V3Error(
      403,
      'PERMISSION',
      null,
      `Your application has insufficient permissions to access the requested resource. Please prompt the user to re-authenticate using Smartcar Connect. Missing permission: ${scope}.`,
      'REAUTHENTICATE',
      'Please grant this application the permission it needs.',
    ),
  vehicleNotFound: (id: string) => new V3Error(404, 'RESOURCE_NOT_FOUND', 'VEHICLE_NOT_FOUND', `Vehicle with ID ${id} not found`),
  notFound: () => new V3Error(404, 'RESOURCE_NOT_FOUND', 'PATH', 'The requested resource could not be found.'),
  invalidPath: () => new V3Error(404, 'RESOURCE_NOT_FOUND', 'INVALID_PATH', 'The requested path does not exist in API v3.'),
  conflict: (detail: string) => new V3Error(409, 'VALIDATION', 'CONFLICT', detail),
};

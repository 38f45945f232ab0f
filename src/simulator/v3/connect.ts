import type { AuthRequest, AuthState, Grant } from '../auth.state';

/**
 * Connect in its v3 form, beside v2's: the application id may come as `application_id` (the newest
 * JS SDK) or `client_id`; `response_type=none` completes without a code; `external_id` is stored for
 * the user. A Connect URL with any of these v3 parameters (`application_id`, `external_id`,
 * `response_type=none`) gets a success redirect with `user_id` (and `external_id` when valid) next
 * to `state` and, with `response_type=code`, the code; a plain v2 URL keeps v2's `code` and `state`
 * only. Every approval, v2 or v3, records a connection.
 */

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The application id of a Connect URL: `client_id`, else `application_id`. */
export function applicationIdOf(q: Record<string, unknown>): string | undefined {
  return str(q.client_id) ?? str(q.application_id);
}

/** The v3 API client id (`client_…`) belongs to the token endpoint, never to Connect. */
export function isApiClientId(id: string): boolean {
  return id.startsWith('client_');
}

/** Smartcar does not publish its rules; the simulator takes 1-255 printable characters. */
const EXTERNAL_ID = /^[\x20-\x7e]{1,255}$/;

/**
 * `external_id`: a valid string, `null` for the literal "null" (clears the stored one), or
 * `undefined` when absent or invalid (Smartcar echoes it only "if provided and valid").
 */
export function externalIdOf(q: Record<string, unknown>): string | null | undefined {
  const raw = str(q.external_id);
  if (raw === undefined) return undefined;
  if (raw === 'null') return null;
  return EXTERNAL_ID.test(raw) ? raw : undefined;
}

export function connectExtrasOf(q: Record<string, unknown>): NonNullable<AuthRequest['connect']> {
  const responseType = str(q.response_type) ?? 'code';
  const v3 = q.application_id !== undefined || q.external_id !== undefined || responseType === 'none';
  return { responseType, externalId: externalIdOf(q), v3 };
}

/** Records the approval as connections and returns the success redirect's query parameters. */
export function approvedParams(auth: AuthState, request: AuthRequest, grant: Grant, code: string, now: number): Record<string, string | null> {
  const user = grant.user;
  const externalId = request.connect?.externalId;
  auth.connections.record({
    applicationId: request.client.clientId,
    user,
    vehicles: user.vehicles.filter((v) => grant.vehicleIds.has(v.id)),
    mode: request.mode,
    permissions: [...grant.scopes],
    externalId,
    now,
  });
  if (!request.connect?.v3) return { code, state: request.state };
  return {
    code: request.connect.responseType === 'none' ? null : code,
    state: request.state,
    user_id: user.id,
    external_id: externalId ?? null,
  };
}

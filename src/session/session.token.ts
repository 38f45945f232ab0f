import { createHash, randomBytes } from 'node:crypto';
import { parse as parseCookie } from 'cookie';

/**
 * Session tokens: 256 random bits, base64url. Only their SHA-256 is ever stored or logged. A cookie
 * of the wrong shape is treated like no cookie at all; a bearer token of the wrong shape like an
 * unknown one.
 */

export const SESSION_COOKIE = 'sid';
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * The session token a request presents, and how: a bearer token is the app's own credential (an
 * unknown one is an error, see RequestSession), a cookie the browser's (an unknown one is replaced).
 */
export interface PresentedToken {
  via: 'bearer' | 'cookie';
  /** null: a bearer credential of the wrong shape, which can name no session. */
  token: string | null;
  /** SHA-256 of `token`: what Redis keys and log lines use. */
  hash: string | null;
}

/**
 * `Authorization: Bearer …` first (apps), then the `sid` cookie (browsers, the tutorial app). A
 * malformed bearer still counts as presented (and wins over a cookie); a malformed cookie does not.
 */
export function readPresentedToken(headers: { authorization?: string | undefined; cookie?: string | undefined }): PresentedToken | null {
  let sid: string | undefined;
  if (headers.cookie && !/^Bearer\s/i.test(headers.authorization ?? '')) {
    try {
      sid = parseCookie(headers.cookie)[SESSION_COOKIE];
    } catch {
      sid = undefined;
    }
  }
  return presentedTokenOf(headers.authorization, sid);
}

/** The same, from the `Authorization` header and the already parsed `sid` cookie (the HTTP edge parses cookies once). */
export function presentedTokenOf(authorization: string | undefined, sid: string | undefined): PresentedToken | null {
  if (authorization !== undefined && /^Bearer\s/i.test(authorization)) {
    const bearer = /^Bearer[ ]+([^\s]+)\s*$/i.exec(authorization)?.[1];
    return bearer !== undefined && TOKEN_SHAPE.test(bearer) ? { via: 'bearer', token: bearer, hash: hashSessionToken(bearer) } : { via: 'bearer', token: null, hash: null };
  }
  return sid !== undefined && TOKEN_SHAPE.test(sid) ? { via: 'cookie', token: sid, hash: hashSessionToken(sid) } : null;
}

/** The well-formed session token a request presents, or null. */
export function readSessionToken(headers: { authorization?: string | undefined; cookie?: string | undefined }): string | null {
  return readPresentedToken(headers)?.token ?? null;
}

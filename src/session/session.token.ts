import { createHash, randomBytes } from 'node:crypto';
import { parse as parseCookie } from 'cookie';

/**
 * Session tokens: 256 random bits, base64url. Only their SHA-256 is ever stored or logged. A token
 * of the wrong shape is treated like no token at all.
 */

export const SESSION_COOKIE = 'sid';
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** `Authorization: Bearer <token>` first (apps), then the `sid` cookie (browsers, the tutorial app). */
export function readSessionToken(headers: { authorization?: string | undefined; cookie?: string | undefined }): string | null {
  const bearer = /^Bearer[ ]+([^\s]+)\s*$/i.exec(headers.authorization ?? '')?.[1];
  if (bearer !== undefined) return TOKEN_SHAPE.test(bearer) ? bearer : null;
  if (!headers.cookie) return null;
  let sid: string | undefined;
  try {
    sid = parseCookie(headers.cookie)[SESSION_COOKIE];
  } catch {
    return null;
  }
  return sid !== undefined && TOKEN_SHAPE.test(sid) ? sid : null;
}

/**
 * The hash of the session token a request presents, or null; read and hashed once per request
 * (the rate limiter and the session both need it).
 */
const presented = new WeakMap<object, string | null>();
export function presentedSessionHash(req: { headers: { authorization?: string | undefined; cookie?: string | undefined } }): string | null {
  if (!presented.has(req)) {
    const token = readSessionToken(req.headers);
    presented.set(req, token === null ? null : hashSessionToken(token));
  }
  return presented.get(req)!;
}

import { serialize } from 'cookie';
import { unauthenticated } from '../errors';
import { SESSION_COOKIE, type PresentedToken } from './session.token';
import type { Session, SessionStore } from './session.store';

/**
 * The caller's session for one HTTP request: loaded from Redis at most once (lazily, so a Redis
 * outage surfaces as SERVICE_UNAVAILABLE at the field that needed it), created on demand by the
 * operations allowed to create one, which then set the `sid` cookie.
 *
 * The cookie lives as long as the session: whenever a cookie session is seen with an expiry later
 * than the one its cookie was given (a car connected, a refresh), the answer re-issues `sid`.
 * Bearer sessions never get a cookie they did not ask for.
 */

export interface CookieOptions {
  secure: boolean;
}

/** Sets the response's `sid` cookie, replacing one set earlier in the same response. */
export type SetCookie = (header: string) => void;

const UNKNOWN_BEARER = 'The session token in Authorization is unknown or expired. Call createSession for a new one.';

export class RequestSession {
  private loading: Promise<Session | null> | null = null;
  private creating: Promise<Session> | null = null;
  /** The token the browser keeps as `sid` (the presented cookie, or one issued here); null for bearer callers. */
  private cookieToken: string | null;
  /** The expiry this answer's cookie already says (the session objects callers pass may predate it). */
  private cookieUntil = 0;

  constructor(
    private readonly store: SessionStore,
    /** What the request presented (null: nothing, or a malformed cookie). */
    private readonly presented: PresentedToken | null,
    private readonly setCookie: SetCookie,
    private readonly cookie: CookieOptions,
    private readonly unconnectedTtlSec: number,
    private readonly now: () => number = Date.now,
  ) {
    this.cookieToken = presented?.via === 'cookie' ? presented.token : null;
  }

  /** The session presented with the request, or null (none, unknown, expired or malformed). */
  get(): Promise<Session | null> {
    const hash = this.presented?.hash ?? null;
    this.loading ??= hash === null ? Promise.resolve(null) : this.store.load(hash).then((s) => s && this.keepCookie(s));
    return this.loading;
  }

  async require(): Promise<Session> {
    const s = await this.get();
    if (!s) throw this.presented?.via === 'bearer' ? unauthenticated(UNKNOWN_BEARER) : unauthenticated();
    return s;
  }

  /**
   * The caller's session, created (with its cookie) when there is none. Concurrent callers share
   * one. A bearer token that names no session is an error, not a reason for a new one: the app would
   * not see that cookie session, and the car it connects would be stranded there.
   */
  async ensure(): Promise<Session> {
    const s = await this.get();
    if (s) return s;
    if (this.presented?.via === 'bearer') throw unauthenticated(UNKNOWN_BEARER);
    this.creating ??= this.create().then(({ session }) => session);
    return this.creating;
  }

  /** A brand-new session (createSession): it replaces the request's session from here on. */
  async create(): Promise<{ token: string; session: Session }> {
    const created = await this.store.create(this.unconnectedTtlSec);
    this.cookieToken = created.token;
    this.issueCookie(created.token, created.session.expiresAt);
    this.loading = Promise.resolve(created.session);
    return created;
  }

  /** Deletes the session and everything it holds, and clears the cookie. */
  async signOut(): Promise<void> {
    const session = await this.require();
    await this.store.destroy(session);
    this.setCookie(serialize(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'lax', path: '/', secure: this.cookie.secure, maxAge: 0 }));
    this.cookieToken = null;
    this.loading = Promise.resolve(null);
  }

  /**
   * After a change this request made (a new connection), later resolvers see the new state; a
   * longer life goes to the cookie in this same answer.
   */
  async update(session: Session): Promise<void> {
    const kept = this.keepCookie(session);
    this.loading = kept;
    await kept;
  }

  /** Re-issues the cookie when the session outlives it, and records that it did. */
  private async keepCookie(session: Session): Promise<Session> {
    if (this.cookieToken === null || session.expiresAt <= Math.max(session.cookieExpiresAt, this.cookieUntil)) return session;
    this.issueCookie(this.cookieToken, session.expiresAt);
    // Lost (Redis failing right now): the next answer re-issues the same cookie, which is harmless.
    await this.store.recordCookieExpiry(session.hash, session.expiresAt).catch(() => undefined);
    return { ...session, cookieExpiresAt: session.expiresAt };
  }

  private issueCookie(token: string, expiresAt: number): void {
    this.cookieUntil = expiresAt;
    this.setCookie(
      serialize(SESSION_COOKIE, token, {
        httpOnly: true,
        sameSite: 'lax',
        path: '/',
        secure: this.cookie.secure,
        // Both: Max-Age wins where it is understood; Expires is for the clients that only read it.
        maxAge: Math.max(0, Math.round((expiresAt - this.now()) / 1000)),
        expires: new Date(expiresAt),
      }),
    );
  }
}

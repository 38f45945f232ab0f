import { serialize } from 'cookie';
import { unauthenticated } from '../errors';
import { SESSION_COOKIE, type PresentedToken } from './session.token';
import type { Session, SessionStore } from './session.store';

/**
 * The caller's session for one HTTP request: loaded from Redis at most once (lazily, so a Redis
 * outage surfaces as SERVICE_UNAVAILABLE at the field that needed it), created on demand by the
 * operations allowed to create one, which then set the `sid` cookie.
 */

export interface CookieOptions {
  secure: boolean;
}

export type SetCookie = (header: string) => void;

const UNKNOWN_BEARER = 'The session token in Authorization is unknown or expired. Call createSession for a new one.';

export class RequestSession {
  private loading: Promise<Session | null> | null = null;
  private creating: Promise<Session> | null = null;

  constructor(
    private readonly store: SessionStore,
    /** What the request presented (null: nothing, or a malformed cookie). */
    private readonly presented: PresentedToken | null,
    private readonly setCookie: SetCookie,
    private readonly cookie: CookieOptions,
    private readonly unconnectedTtlSec: number,
  ) {}

  /** The session presented with the request, or null (none, unknown, expired or malformed). */
  get(): Promise<Session | null> {
    const hash = this.presented?.hash ?? null;
    this.loading ??= hash === null ? Promise.resolve(null) : this.store.load(hash);
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
    this.setCookie(
      serialize(SESSION_COOKIE, created.token, {
        httpOnly: true,
        sameSite: 'lax',
        path: '/',
        secure: this.cookie.secure,
        expires: new Date(created.session.expiresAt),
      }),
    );
    this.loading = Promise.resolve(created.session);
    return created;
  }

  /** Deletes the session and everything it holds, and clears the cookie. */
  async signOut(): Promise<void> {
    const session = await this.require();
    await this.store.destroy(session);
    this.setCookie(serialize(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'lax', path: '/', secure: this.cookie.secure, maxAge: 0 }));
    this.loading = Promise.resolve(null);
  }

  /** After a change this request made (a new connection), later resolvers see the new state. */
  update(session: Session): void {
    this.loading = Promise.resolve(session);
  }
}

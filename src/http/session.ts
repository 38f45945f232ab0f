import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RequestSession } from '../session/request-session';
import type { SessionStore } from '../session/session.store';
import { presentedTokenOf, SESSION_COOKIE, type PresentedToken } from '../session/session.token';

declare module 'fastify' {
  interface FastifyRequest {
    /** The session token the request presents (bearer header, else the `sid` cookie), hashed once. */
    presented: PresentedToken | null;
  }
}

export interface SessionOptions {
  sessions: SessionStore;
  cookieSecure: boolean;
  unconnectedTtlSec: number;
}

/**
 * Cookies parsed once per request (@fastify/cookie) and the presented token read from them, before
 * the rate limits (which count per session) and the routes run.
 */
export async function registerSessionToken(app: FastifyInstance): Promise<void> {
  await app.register(fastifyCookie, { hook: 'onRequest' });
  app.decorateRequest('presented', null);
  app.addHook('onRequest', async (request) => {
    const sid = request.cookies[SESSION_COOKIE];
    request.presented = presentedTokenOf(request.headers.authorization, sid);
  });
}

/** The caller's session for one request, whose cookie goes on `reply`. */
export function requestSessionFactory(options: SessionOptions) {
  return (request: FastifyRequest, reply: FastifyReply) =>
    new RequestSession(options.sessions, request.presented, (cookie) => setSessionCookie(reply, cookie), { secure: options.cookieSecure }, options.unconnectedTtlSec);
}

export type RequestSessionFactory = ReturnType<typeof requestSessionFactory>;

/** One `sid` cookie per answer: a later one (the session's longer life, a sign-out) replaces an earlier one. */
function setSessionCookie(reply: FastifyReply, cookie: string): void {
  const others = [reply.getHeader('set-cookie') ?? []].flat().map(String).filter((c) => !c.startsWith(`${SESSION_COOKIE}=`));
  // Fastify appends to set-cookie: remove first, so that the list is replaced.
  reply.removeHeader('set-cookie');
  void reply.header('set-cookie', [...others, cookie]);
}

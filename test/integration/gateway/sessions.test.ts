import type { RunningApp } from '../../../src/app';
import { hashSessionToken, newSessionToken } from '../../../src/session/session.token';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * The life of a session as clients see it: a bearer token the gateway does not know is an error,
 * never a silent new session.
 */

let stack: Stack;
/** SMARTCAR_REQUIRE_STATE=false: a bare code is accepted, so only the session decides. */
let lax: RunningApp;
beforeAll(async () => {
  stack = await startStack();
  lax = await stack.another({ SMARTCAR_REQUIRE_STATE: 'false' });
});
afterAll(() => stack.stop());
beforeEach(() => stack.sim.resetRequests());

const EXCHANGE = 'mutation($code: String!, $state: String) { exchangeCode(code: $code, state: $state) { vehicles { id } } }';

const sessionKey = (token: string) => `${stack.prefix}sess:{${hashSessionToken(token)}}`;
const storedExpiry = async (token: string) => Number(await stack.redis.hget(sessionKey(token), 'expires'));
/** Session hashes in the stack's Redis (not their states or connections). */
const sessionCount = async () => (await stack.redis.keys(`${stack.prefix}sess:*`)).filter((k) => /sess:\{[^}]+\}$/.test(k)).length;

/** A Connect URL as mobile SDKs build them (no state), and the code it comes back with. */
async function bareCode(username: string): Promise<string> {
  const url = new URL('/oauth/authorize', stack.sim.origin);
  url.search = new URLSearchParams({ response_type: 'code', client_id: stack.sim.client.clientId, redirect_uri: lax.redirectUri, scope: 'required:read_vehicle_info read_odometer', mode: 'test' }).toString();
  return (await completeConsent(url.toString(), { username })).searchParams.get('code')!;
}

describe('a bearer token the gateway does not know', () => {
  test('is UNAUTHENTICATED for connectUrl, exchangeCode, /connect and /exchange: no session made, no cookie, the code not spent', async () => {
    const sessionsBefore = await sessionCount();
    const code = await bareCode(`ghost-${Date.now()}@example.com`);
    stack.sim.resetRequests();
    for (const bearer of [newSessionToken(), 'not a token at all']) {
      const app = new Client(lax.url);
      app.bearer = bearer;
      const url = await app.gql('{ connectUrl }');
      expect(url.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
      expect(url.errors?.[0]?.message).toMatch(/createSession/);
      expect(url.headers.getSetCookie()).toEqual([]);
      const exchanged = await app.gql(EXCHANGE, { code });
      expect(exchanged.errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
      expect(exchanged.headers.getSetCookie()).toEqual([]);
      for (const path of ['/connect', `/exchange?code=${code}`]) {
        const rest = await app.get(path);
        expect(rest.status).toBe(401);
        expect(JSON.parse(rest.body).error.code).toBe('UNAUTHENTICATED');
        expect(rest.headers.getSetCookie()).toEqual([]);
      }
    }
    expect(stack.sim.requests().filter((r) => r.kind === 'token')).toEqual([]);
    expect(await sessionCount()).toBe(sessionsBefore);
  });

  test('an expired one too; createSession issues a fresh one, which works', async () => {
    const app = new Client(lax.url);
    app.bearer = (await new Client(lax.url).gql<{ createSession: { token: string } }>('mutation { createSession { token } }')).data!.createSession.token;
    expect((await app.gql('{ connectUrl }')).errors).toBeUndefined();
    await stack.redis.hset(sessionKey(app.bearer), 'expires', Date.now() - 1); // its time is up
    expect((await app.gql('{ connectUrl }')).errors?.map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);

    const created = await app.gql<{ createSession: { token: string } }>('mutation { createSession { token } }');
    const fresh = created.data!.createSession.token;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(app.bearer);
    app.bearer = fresh;
    app.cookies.clear();
    expect((await app.gql('{ connectUrl }')).errors).toBeUndefined();
  });

  test('an unknown cookie, by contrast, is replaced by a new session (what browsers expect)', async () => {
    const browser = new Client(stack.url);
    const stale = newSessionToken();
    browser.cookies.set('sid', stale);
    const url = await browser.gql<{ connectUrl: string }>('{ connectUrl }');
    expect(url.errors).toBeUndefined();
    const issued = browser.cookies.get('sid')!;
    expect(issued).not.toBe(stale);
    expect(await storedExpiry(issued)).toBeGreaterThan(Date.now());
  });
});

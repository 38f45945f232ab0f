import type { RunningApp } from '../../../src/app';
import { hashSessionToken, newSessionToken } from '../../../src/session/session.token';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * The life of a session as clients see it: the `sid` cookie lives as long as the session (re-issued
 * whenever its expiry moves), and a bearer token the gateway does not know is an error, never a
 * silent new session.
 */

let stack: Stack;
/** SMARTCAR_REQUIRE_STATE=false: a bare code is accepted, so only the session decides. */
let lax: RunningApp;
beforeAll(async () => {
  stack = await startStack({ env: { TOKEN_REFRESH_MARGIN_SEC: '0' } });
  lax = await stack.another({ SMARTCAR_REQUIRE_STATE: 'false' });
});
afterAll(() => stack.stop());
beforeEach(() => stack.sim.resetRequests());

const DAY = 86_400;
const EXCHANGE = 'mutation($code: String!, $state: String) { exchangeCode(code: $code, state: $state) { vehicles { id } } }';

interface SidCookie {
  value: string;
  maxAge: number;
  /** Epoch ms. */
  expires: number;
}

/** The one `sid` cookie a response sets, or null; fails when it sets several. */
function sidCookie(headers: Headers): SidCookie | null {
  const all = headers.getSetCookie().filter((c) => c.startsWith('sid='));
  expect(all.length).toBeLessThanOrEqual(1);
  if (!all[0]) return null;
  const [pair, ...attrs] = all[0].split('; ');
  const attr = (name: string) => attrs.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  expect(attrs).toEqual(expect.arrayContaining(['Path=/', 'HttpOnly', 'SameSite=Lax']));
  return { value: pair!.slice(4), maxAge: Number(attr('Max-Age')), expires: Date.parse(attr('Expires') ?? '') };
}

/** Max-Age and Expires both say `expiresAt` (to the second, as cookies do). */
function expectLifetime(cookie: SidCookie, expiresAt: number): void {
  expect(Math.abs(cookie.expires - expiresAt)).toBeLessThan(1_500);
  expect(Math.abs(Date.now() + cookie.maxAge * 1000 - expiresAt)).toBeLessThan(2_500);
}

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

describe('the sid cookie lives as long as the session', () => {
  test('24 h without a car; connecting one re-issues it for 60 days; a refresh that moves the expiry re-issues it on the next answer', async () => {
    const browser = new Client(stack.url);
    const username = `cookie-${Date.now()}@example.com`;
    const url = await browser.gql<{ connectUrl: string }>('{ connectUrl }');
    const first = sidCookie(url.headers)!;
    expect(first.maxAge).toBe(DAY);
    expectLifetime(first, await storedExpiry(first.value));

    const back = await completeConsent(url.data!.connectUrl, { username });
    const exchanged = await browser.gql(EXCHANGE, { code: back.searchParams.get('code'), state: back.searchParams.get('state') });
    expect(exchanged.errors).toBeUndefined();
    const connected = sidCookie(exchanged.headers)!;
    expect(connected.value).toBe(first.value);
    expect(connected.maxAge).toBeGreaterThan(59 * DAY);
    expect(connected.maxAge).toBeLessThanOrEqual(60 * DAY);
    const connectedExpiry = await storedExpiry(first.value);
    expectLifetime(connected, connectedExpiry);
    // Said once: the next answers leave the cookie alone.
    expect(sidCookie((await browser.gql('{ session { connected } }')).headers)).toBeNull();

    // Smartcar stops taking the access token: the gateway refreshes, which stretches the session.
    stack.sim.expireAccessTokens(username);
    const read = await browser.gql('{ vehicle { odometer { distance } } }');
    expect(read.errors).toBeUndefined();
    expect(stack.sim.requests().filter((r) => r.grantType === 'refresh_token').map((r) => r.status)).toEqual([200]);
    const refreshedExpiry = await storedExpiry(first.value);
    expect(refreshedExpiry).toBeGreaterThan(connectedExpiry);

    const next = await browser.gql('{ session { connected } }');
    const refreshed = sidCookie(next.headers)!;
    expect(refreshed.value).toBe(first.value);
    expectLifetime(refreshed, refreshedExpiry);
    expect(sidCookie((await browser.gql('{ session { connected } }')).headers)).toBeNull();
  });

  test('the tutorial route: /exchange answers with one sid cookie, of the connected session’s life', async () => {
    const browser = new Client(stack.url);
    const start = await browser.get('/connect');
    expect(sidCookie(start.headers)!.maxAge).toBe(DAY);
    const back = await completeConsent(start.headers.get('location')!, { username: `rest-cookie-${Date.now()}@example.com` });
    const exchange = await browser.get(`/exchange${back.search}`);
    expect(exchange.status).toBe(302);
    expectLifetime(sidCookie(exchange.headers)!, await storedExpiry(browser.cookies.get('sid')!));
    expect(sidCookie(exchange.headers)!.maxAge).toBeGreaterThan(59 * DAY);

    // A session a first exchange made in the same request (the tutorial app's bare code): one cookie.
    const app = new Client(lax.url);
    const bare = await app.get(`/exchange?code=${await bareCode(`rest-bare-${Date.now()}@example.com`)}`);
    expect(bare.status).toBe(302);
    expect(sidCookie(bare.headers)!.maxAge).toBeGreaterThan(59 * DAY);
  });

  test('a session from before cookies were re-issued gets its cookie once; bearer sessions never get one', async () => {
    const browser = new Client(stack.url);
    await browser.gql('mutation { createSession { token } }');
    const token = browser.cookies.get('sid')!;
    await stack.redis.hdel(sessionKey(token), 'cookieExpires');
    expectLifetime(sidCookie((await browser.gql('{ session { connected } }')).headers)!, await storedExpiry(token));
    expect(sidCookie((await browser.gql('{ session { connected } }')).headers)).toBeNull();

    const app = new Client(stack.url);
    app.bearer = (await new Client(stack.url).gql<{ createSession: { token: string } }>('mutation { createSession { token } }')).data!.createSession.token;
    const url = await app.gql<{ connectUrl: string }>('{ connectUrl }');
    const back = await completeConsent(url.data!.connectUrl, { username: `bearer-cookie-${Date.now()}@example.com` });
    const exchanged = await app.gql(EXCHANGE, { code: back.searchParams.get('code'), state: back.searchParams.get('state') });
    expect(exchanged.errors).toBeUndefined();
    expect(exchanged.headers.getSetCookie()).toEqual([]);
    expect(await storedExpiry(app.bearer)).toBeGreaterThan(Date.now() + 59 * DAY * 1000);
  });
});

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
    const issued = sidCookie(url.headers)!;
    expect(issued.value).not.toBe(stale);
    expect(await storedExpiry(issued.value)).toBeGreaterThan(Date.now());
  });
});

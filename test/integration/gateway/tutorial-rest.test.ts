import type { RunningApp } from '../../../src/app';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * The routes of Smartcar's getting-started backends, driven the way the iOS tutorial app does:
 * Connect (built by the app's own SDK with its custom-scheme redirect URI, no state) →
 * GET /exchange?code=… → GET /vehicle, with cookies. Then what a browser does: GET /connect, and
 * why a link to /exchange?code=… from another site connects nothing.
 */

let stack: Stack;
/** The gateway as the tutorial runs it: SMARTCAR_REDIRECT_URI=sc<clientId>://exchange. */
let tutorial: RunningApp;
beforeAll(async () => {
  stack = await startStack();
  tutorial = await stack.another({ SMARTCAR_REDIRECT_URI: `sc${stack.sim.client.clientId}://exchange` });
});
afterAll(() => stack.stop());

const CROSS_SITE = { 'sec-fetch-site': 'cross-site' };

/** What the app's Smartcar SDK does: a Connect URL of its own (no state), then it hands over the code. */
async function codeFromConnect(username: string, redirectUri = tutorial.redirectUri): Promise<string> {
  const url = new URL('/oauth/authorize', stack.sim.origin);
  url.search = new URLSearchParams({ response_type: 'code', client_id: stack.sim.client.clientId, redirect_uri: redirectUri, scope: 'required:read_vehicle_info', mode: 'test' }).toString();
  const back = await completeConsent(url.toString(), { username });
  expect(back.searchParams.get('state')).toBeNull();
  return back.searchParams.get('code')!;
}

const tokenRequests = () => stack.sim.requests().filter((r) => r.kind === 'token');

test('/exchange then /vehicle with a cookie jar returns make, model and year', async () => {
  const app = new Client(tutorial.url);
  const exchange = await app.get(`/exchange?code=${await codeFromConnect('driver@example.com')}`);
  expect(exchange.status).toBe(302);
  expect(exchange.headers.get('location')).toBe('/vehicle');
  expect(app.cookies.get('sid')).toMatch(/^[A-Za-z0-9_-]{43}$/);

  stack.sim.resetRequests();
  const vehicle = await app.get('/vehicle');
  expect(vehicle.status).toBe(200);
  expect(vehicle.headers.get('content-type')).toMatch(/^application\/json/);
  const car = stack.sim.user('driver@example.com').vehicles[0]!;
  expect(JSON.parse(vehicle.body)).toEqual({ id: car.id, make: 'TESLA', model: 'Model 3', year: 2021 });
  // The exchange did not read attributes; the first /vehicle did, once; the second costs nothing.
  expect(stack.sim.requests().map((r) => `${r.method} ${r.endpoint}`)).toEqual(['GET /']);
  stack.sim.resetRequests();
  expect(JSON.parse((await app.get('/vehicle')).body)).toEqual({ id: car.id, make: 'TESLA', model: 'Model 3', year: 2021 });
  expect(stack.sim.requests()).toEqual([]);
});

test('/vehicle?id= picks one of several cars; a foreign id is 404; no session is 401', async () => {
  const app = new Client(tutorial.url);
  await app.get(`/exchange?code=${await codeFromConnect('family@example.com')}`);
  const leaf = stack.sim.user('family@example.com').vehicles[1]!;
  const res = await app.get(`/vehicle?id=${leaf.id}`);
  expect(JSON.parse(res.body)).toEqual({ id: leaf.id, make: 'NISSAN', model: 'Leaf', year: 2020 });
  expect((await app.get('/vehicle')).body).toContain('"make":"FORD"');

  const foreign = await app.get(`/vehicle?id=${stack.sim.user('driver@example.com').vehicles[0]!.id}`);
  expect(foreign.status).toBe(404);
  expect(JSON.parse(foreign.body)).toEqual({ error: { code: 'NOT_FOUND', message: 'No such vehicle in this session.' } });

  const stranger = await new Client(tutorial.url).get('/vehicle');
  expect(stranger.status).toBe(401);
  expect(JSON.parse(stranger.body).error.code).toBe('UNAUTHENTICATED');
});

test('/exchange errors: no code 400, a denied Connect 400, a rejected code 400', async () => {
  const app = new Client(tutorial.url);
  const none = await app.get('/exchange');
  expect(none.status).toBe(400);
  expect(JSON.parse(none.body)).toEqual({ error: { code: 'BAD_USER_INPUT', message: 'code: required' } });
  const denied = await app.get('/exchange?error=access_denied&error_description=User+denied+access+to+application.');
  expect(denied.status).toBe(400);
  expect(JSON.parse(denied.body).error.code).toBe('BAD_USER_INPUT');
  const rejected = await app.get('/exchange?code=00000000-0000-4000-8000-000000000000');
  expect(rejected.status).toBe(400);
  expect(JSON.parse(rejected.body).error.code).toBe('BAD_USER_INPUT');
  expect(rejected.body).not.toContain('invalid_grant:'); // no upstream text
});

test('Smartcar down while reading attributes: 502 UPSTREAM_UNAVAILABLE, then it recovers', async () => {
  const app = new Client(tutorial.url);
  await app.get(`/exchange?code=${await codeFromConnect(`down-${Date.now()}@example.com`)}`);
  stack.sim.addFault({ target: 'api', mode: 'reset', count: 1 });
  const down = await app.get('/vehicle');
  expect(down.status).toBe(502);
  expect(JSON.parse(down.body).error.code).toBe('UPSTREAM_UNAVAILABLE');
  // The failure is logged once, with the request's id and what went wrong upstream.
  const requestId = down.headers.get('x-request-id')!;
  const logged = stack.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.requestId === requestId);
  expect(logged.map((l) => l.msg)).toEqual(['smartcar call failed', 'request']);
  expect(logged[0]).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstream: { kind: 'network' } });
  const up = await app.get('/vehicle');
  expect(up.status).toBe(200);
  expect(JSON.parse(up.body)).toHaveProperty('make');
});

describe('GET /connect: the browser walk', () => {
  test('no session: creates one, binds a state to it, 302 to Connect; back on /exchange the car is connected', async () => {
    expect(stack.app.connectLink).toBe('http://localhost:8000/connect'); // beside SMARTCAR_REDIRECT_URI, so the cookie comes back
    const browser = new Client(stack.url);
    const start = await browser.get('/connect?make=TESLA');
    expect(start.status).toBe(302);
    expect(start.headers.get('cache-control')).toBe('no-store');
    const sid = browser.cookies.get('sid');
    expect(sid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const connect = new URL(start.headers.get('location')!);
    expect(`${connect.origin}${connect.pathname}`).toBe(`${stack.sim.origin}/oauth/authorize`);
    expect(connect.searchParams.get('make')).toBe('TESLA');
    expect(connect.searchParams.get('redirect_uri')).toBe('http://localhost:8000/exchange');
    expect(connect.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{24}$/);

    const back = await completeConsent(connect.toString(), { username: 'driver@example.com' });
    // Connect's redirect is a cross-site navigation; its state makes it legitimate.
    const exchange = await browser.get(`/exchange${back.search}`, CROSS_SITE);
    expect(exchange.status).toBe(302);
    expect(exchange.headers.get('location')).toBe('/vehicle');
    expect(browser.cookies.get('sid')).toBe(sid);
    const vehicle = await browser.get('/vehicle');
    expect(JSON.parse(vehicle.body)).toMatchObject({ make: 'TESLA', model: 'Model 3', year: 2021 });
  });

  test('a session that exists is kept; a bad make is 400; the tutorial gateway links to itself', async () => {
    const browser = new Client(stack.url);
    await browser.gql('mutation { createSession { token } }');
    const sid = browser.cookies.get('sid');
    const again = await browser.get('/connect');
    expect(again.status).toBe(302);
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(browser.cookies.get('sid')).toBe(sid);
    const bad = await browser.get('/connect?make=%3Cscript%3E');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe('BAD_USER_INPUT');
    expect(tutorial.connectLink).toBe(`${tutorial.url}/connect`);
  });
});

describe('login CSRF: a link to /exchange?code=<attacker’s code> in a victim’s browser', () => {
  /** The attacker connects their own car and keeps the code, dropping the state bound to their session. */
  async function attackersCode(app: RunningApp): Promise<string> {
    const attacker = new Client(app.url);
    const url = (await attacker.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl;
    const back = await completeConsent(url, { username: `attacker-${Date.now()}@example.com` });
    return back.searchParams.get('code')!;
  }

  async function victim(app: RunningApp): Promise<Client> {
    const v = new Client(app.url);
    await v.gql('mutation { createSession { token } }');
    return v;
  }

  const vehicleIds = async (c: Client) => (await c.gql<{ session: { vehicleIds: string[] } }>('{ session { vehicleIds } }')).data!.session.vehicleIds;

  test('default (auto, http redirect URI): refused with or without Sec-Fetch-Site, the code is not spent', async () => {
    const code = await attackersCode(stack.app);
    const alice = await victim(stack.app);
    stack.sim.resetRequests();
    for (const headers of [CROSS_SITE, {}]) {
      const res = await alice.get(`/exchange?code=${code}`, headers);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).error).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/^state: required/) });
    }
    expect(tokenRequests()).toEqual([]);
    expect(await vehicleIds(alice)).toEqual([]);
  });

  test('SMARTCAR_REQUIRE_STATE=false: a cross-site navigation is still refused; the app’s bare code still works', async () => {
    const lax = await stack.another({ SMARTCAR_REQUIRE_STATE: 'false' });
    const code = await attackersCode(lax);
    const alice = await victim(lax);
    stack.sim.resetRequests();
    const res = await alice.get(`/exchange?code=${code}`, CROSS_SITE);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('BAD_USER_INPUT');
    expect(tokenRequests()).toEqual([]);
    expect(await vehicleIds(alice)).toEqual([]);

    const app = new Client(lax.url);
    const bare = await app.get(`/exchange?code=${await codeFromConnect('driver@example.com', lax.redirectUri)}`);
    expect(bare.status).toBe(302);
  });

  test('custom-scheme redirect URI (the tutorial): a bare code from the app works, the same from another site is refused', async () => {
    const code = await codeFromConnect(`victim-${Date.now()}@example.com`);
    const alice = await victim(tutorial);
    stack.sim.resetRequests();
    const res = await alice.get(`/exchange?code=${code}`, CROSS_SITE);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('BAD_USER_INPUT');
    expect(tokenRequests()).toEqual([]);
    expect(await vehicleIds(alice)).toEqual([]);
    // Same-site or no Fetch Metadata at all (the app's URLSession): the tutorial flow.
    expect((await alice.get(`/exchange?code=${code}`, { 'sec-fetch-site': 'same-origin' })).status).toBe(302);
    expect(await vehicleIds(alice)).toHaveLength(1);
  });
});

import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * The routes of Smartcar's getting-started backends, driven the way the iOS tutorial app does:
 * Connect (built by the app's own SDK, no state) → GET /exchange?code=… → GET /vehicle, with cookies.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.stop());

/** What the app's Smartcar SDK does: Connect with the app's redirect URI, then hands over the code. */
async function codeFromConnect(username: string): Promise<string> {
  const back = await completeConsent(stack.app.connectLink, { username });
  expect(back.searchParams.get('state')).toBeNull();
  return back.searchParams.get('code')!;
}

test('/exchange then /vehicle with a cookie jar returns make, model and year', async () => {
  const app = new Client(stack.url);
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
  const app = new Client(stack.url);
  await app.get(`/exchange?code=${await codeFromConnect('family@example.com')}`);
  const leaf = stack.sim.user('family@example.com').vehicles[1]!;
  const res = await app.get(`/vehicle?id=${leaf.id}`);
  expect(JSON.parse(res.body)).toEqual({ id: leaf.id, make: 'NISSAN', model: 'Leaf', year: 2020 });
  expect((await app.get('/vehicle')).body).toContain('"make":"FORD"');

  const foreign = await app.get(`/vehicle?id=${stack.sim.user('driver@example.com').vehicles[0]!.id}`);
  expect(foreign.status).toBe(404);
  expect(JSON.parse(foreign.body)).toEqual({ error: { code: 'NOT_FOUND', message: 'No such vehicle in this session.' } });

  const stranger = await new Client(stack.url).get('/vehicle');
  expect(stranger.status).toBe(401);
  expect(JSON.parse(stranger.body).error.code).toBe('UNAUTHENTICATED');
});

test('/exchange errors: no code 400, a denied Connect 400, a rejected code 400', async () => {
  const app = new Client(stack.url);
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
  const app = new Client(stack.url);
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

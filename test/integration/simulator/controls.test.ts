import { startSimulator, type RunningSimulator } from '../../../src/simulator';

/** The `/__simulator` controls over HTTP, as a test in another process (or a developer) uses them. */

let sim: RunningSimulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(() => sim.stop());

const json = (path: string, init: RequestInit = {}) =>
  fetch(`${sim.origin}/__simulator${path}`, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });

test('the request record can be read (since a sequence number) and reset; controls are not recorded', async () => {
  await json('/requests', { method: 'DELETE' });
  await fetch(`${sim.origin}/v2.0/user/`);
  await fetch(`${sim.origin}/v2.0/vehicles/`);
  const all = (await (await json('/requests')).json()) as { requests: { seq: number; path: string; status: number; kind: string }[] };
  expect(all.requests.map((r) => [r.path, r.status, r.kind])).toEqual([
    ['/v2.0/user/', 401, 'api'],
    ['/v2.0/vehicles/', 401, 'api'],
  ]);
  const since = (await (await json(`/requests?since=${all.requests[0]!.seq}`)).json()) as { requests: { path: string }[] };
  expect(since.requests.map((r) => r.path)).toEqual(['/v2.0/vehicles/']);
  expect((await json('/requests', { method: 'DELETE' })).status).toBe(204);
  expect(((await (await json('/requests')).json()) as { requests: unknown[] }).requests).toEqual([]);
});

test('settings can be changed and are validated', async () => {
  const ok = await json('/config', { method: 'PATCH', body: JSON.stringify({ accessTokenTtlSec: 2, refreshGraceSec: 1 }) });
  expect(ok.status).toBe(200);
  expect(await ok.json()).toMatchObject({ accessTokenTtlSec: 2, refreshGraceSec: 1, latencyMs: 0 });
  const bad = await json('/config', { method: 'PATCH', body: JSON.stringify({ accessTokenTtlSec: -1, colour: 'red' }) });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toBe('bad value for "accessTokenTtlSec"; unknown setting "colour"');
});

test('faults are added, counted down and removed over HTTP', async () => {
  const created = await json('/faults', { method: 'POST', body: JSON.stringify({ target: 'api', mode: 'error', status: 502, count: 1 }) });
  expect(created.status).toBe(201);
  const first = await fetch(`${sim.origin}/v2.0/user/`);
  expect(first.status).toBe(502);
  expect(await first.json()).toMatchObject({ type: 'UPSTREAM', code: 'UNKNOWN_ISSUE', statusCode: 502 });
  expect((await fetch(`${sim.origin}/v2.0/user/`)).status).toBe(401);
  await json('/faults', { method: 'POST', body: JSON.stringify({ target: 'all', mode: 'html', status: 503 }) });
  expect((await fetch(`${sim.origin}/v2.0/user/`)).headers.get('content-type')).toMatch(/text\/html/);
  expect((await json('/faults', { method: 'DELETE' })).status).toBe(204);
  expect((await fetch(`${sim.origin}/v2.0/user/`)).status).toBe(401);
  expect((await json('/faults', { method: 'POST', body: JSON.stringify({ target: 'api', mode: 'explode' }) })).status).toBe(400);
});

test('a user and their cars can be looked up', async () => {
  const res = await json('/users/family@example.com');
  const user = (await res.json()) as { id: string; vehicles: { make: string }[] };
  expect(user.vehicles.map((v) => v.make)).toEqual(['FORD', 'NISSAN', 'TOYOTA']);
});

import { randomBytes } from 'node:crypto';
import { UpstreamError } from '../../../src/errors';
import { startSimulator, type RunningSimulator } from '../../../src/simulator';
import type { Credential } from '../../../src/smartcar/smartcar.port';
import { createV3Adapter, type V3Adapter } from '../../../src/smartcar/v3.adapter';
import { SIGNAL_NAMES } from '../../../src/vehicles/signal.registry';
import { connectV3 } from '../simulator/v3-support';

/**
 * The v3 adapter alone against the simulator's v3: the client-credentials token, every page of a
 * car's signals (small pages here, so there are several), the connections of a user, and what goes
 * on the wire (sc-user-id, no SDK).
 */

let sim: RunningSimulator;
const adapter = (pageSize?: number): V3Adapter =>
  createV3Adapter({
    ...sim.v3,
    redirectUri: 'https://app.example/callback',
    mode: 'test',
    timeoutMs: 5_000,
    tokenTimeoutMs: 5_000,
    origins: { iam: sim.origin, api: sim.origin, connect: sim.origin, management: sim.origin },
    ...(pageSize !== undefined && { pageSize }),
  });

beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(() => sim?.stop());

async function credentialFor(a: V3Adapter, username: string, externalId = 'ext-1'): Promise<Extract<Credential, { api: 3 }>> {
  const back = await connectV3(sim, username, { external_id: externalId, redirect_uri: 'https://app.example/callback' });
  const { accessToken } = await a.fetchAppToken();
  return { api: 3, appToken: accessToken, userId: back.get('user_id')! };
}

test('the token: client credentials, about an hour', async () => {
  const before = Date.now();
  const t = await adapter().fetchAppToken();
  expect(t.accessToken.length).toBeGreaterThan(10);
  expect(t.expiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
  expect(t.expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);
  const [req] = sim.requests().filter((r) => r.kind === 'token');
  expect([req!.path, req!.grantType, req!.clientId, req!.status]).toEqual(['/oauth2/token', 'client_credentials', sim.v3.clientId, 200]);
});

test('every page of the signals: small pages give the same answers as one page, one car one logical read', async () => {
  const small = adapter(4);
  const username = `v3ad-${randomBytes(4).toString('hex')}+phev@example.com`;
  const credential = await credentialFor(small, username);
  const [car] = sim.user(username).vehicles;
  sim.resetRequests();
  const paged = await small.port.readSignals(credential, car!.id, SIGNAL_NAMES, 'metric');
  const pages = sim.requests().filter((r) => r.endpoint === '/signals');
  const total = 21; // the simulator's signal codes
  expect(pages.map((r) => r.query.page)).toEqual(Array.from({ length: Math.ceil(total / 4) }, (_, i) => String(i + 1)));
  expect(pages.every((r) => r.userId === credential.userId && r.query.pageSize === '4')).toBe(true);

  sim.resetRequests();
  const whole = await adapter().port.readSignals(credential, car!.id, SIGNAL_NAMES, 'metric');
  expect(sim.requests().filter((r) => r.endpoint === '/signals')).toHaveLength(1);
  const comparable = (m: typeof whole) => [...m].map(([n, r]) => [n, r instanceof UpstreamError ? r.details.type : Object.keys(r.values)]);
  expect(comparable(paged)).toEqual(comparable(whole));
  expect([...paged.values()].filter((r) => !(r instanceof UpstreamError))).toHaveLength(SIGNAL_NAMES.length);
});

test("a user's connections over pages, filtered by external id", async () => {
  const small = adapter(2);
  const username = `v3ad-${randomBytes(4).toString('hex')}+5@example.com`;
  const credential = await credentialFor(small, username, 'ours');
  sim.resetRequests();
  const info = await small.port.describeConnection(credential, 'ours');
  expect(info.vehicleIds).toEqual(sim.user(username).vehicles.map((v) => v.id));
  expect(sim.requests().filter((r) => r.path === '/v3/connections').map((r) => r.query['page[number]'])).toEqual(['1', '2', '3']);
  expect((await small.port.describeConnection(credential, 'theirs')).vehicleIds).toEqual([]);
});

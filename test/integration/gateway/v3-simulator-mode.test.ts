import { createApp, type RunningApp } from '../../../src/app';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { Client, testRedisUrl } from '../../support/gateway';
import { connectV3Car, consentV3 } from '../../support/v3';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';

/** `SMARTCAR_API_VERSION=3` without credentials: the gateway runs its in-process simulator's v3. */

let app: RunningApp;
const prefix = `tv3s${randomBytes(4).toString('hex')}:`;

beforeAll(async () => {
  const config = loadConfig({ NODE_ENV: 'test', PORT: '0', REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: prefix, SMARTCAR_API_VERSION: '3', TOKEN_SWEEP_INTERVAL_SEC: '0', LOG_LEVEL: 'silent' });
  app = await createApp(config, { logger: createLogger('silent') });
}, 30_000);
afterAll(async () => {
  await app?.stop();
  const redis = new Redis(testRedisUrl());
  const stale = await redis.keys(`${prefix}*`);
  if (stale.length) await redis.del(...stale);
  await redis.quit();
});

test("the Connect URL is the simulator's v3 one, and a car connects and reads through v3", async () => {
  const sim = app.simulator!;
  const client = new Client(app.url);
  const url = new URL((await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl);
  expect(`${url.origin}${url.pathname}`).toBe(`${sim.origin}/oauth/authorize`);
  expect(url.searchParams.get('application_id')).toBe(sim.v3.applicationId);
  expect(url.searchParams.get('redirect_uri')).toBe(`http://localhost:${app.port}/exchange`);

  const username = `v3sim-${randomBytes(4).toString('hex')}@example.com`;
  const [id] = await connectV3Car(client, username);
  expect(id).toBe(sim.user(username).vehicles[0]!.id);
  const since = sim.requests().at(-1)!.seq;
  const res = await client.gql<{ vehicle: { odometer: { distance: number } } }>('{ vehicle { odometer(maxAge: 0) { distance } } }');
  expect(res.data!.vehicle.odometer.distance).toBeGreaterThan(0);
  expect(sim.requests(since).filter((r) => r.kind === 'api').map((r) => `${r.method} ${r.path}`)).toEqual([`GET /v3/vehicles/${id}/signals`]);
});

test('in v3 mode a code through exchangeCode still connects a car through v2 (a session may hold both)', async () => {
  const sim = app.simulator!;
  const client = new Client(app.url);
  const username = `v3sim-${randomBytes(4).toString('hex')}@example.com`;
  const back = await consentV3(client, username);
  const res = await client.gql<{ exchangeCode: { vehicles: { id: string }[] } }>('mutation($c: String!, $s: String) { exchangeCode(code: $c, state: $s) { vehicles { id } } }', {
    c: back.searchParams.get('code'),
    s: back.searchParams.get('state'),
  });
  expect(res.errors).toBeUndefined();
  const since = sim.requests().at(-1)!.seq;
  await client.gql('{ vehicle { odometer(maxAge: 0) { distance } } }');
  expect(sim.requests(since).filter((r) => r.kind === 'api').map((r) => `${r.method} ${r.path}`)).toEqual([`GET /v2.0/vehicles/${res.data!.exchangeCode.vehicles[0]!.id}/odometer`]);
});

test("the simulator's webhook is the gateway itself: verified, its vehicles subscribed, their events warm the cache", async () => {
  const sim = app.simulator!;
  expect(sim.webhookStatus()).toEqual({ url: `${app.url}/webhooks/smartcar`, status: 'verified', problem: null });
  const client = new Client(app.url);
  const username = `v3sim-${randomBytes(4).toString('hex')}@example.com`;
  const [id] = await connectV3Car(client, username);
  const applied = () => sim.webhookDeliveries().filter((d) => d.vehicleId === id && d.eventType === 'VEHICLE_STATE' && d.status === 200).length;
  for (const end = Date.now() + 5_000; applied() === 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  expect(applied()).toBe(1); // the first delivery that subscribing sends
  const since = sim.requests().at(-1)!.seq;
  const res = await client.gql<{ vehicle: { odometer: { distance: number } } }>('{ vehicle { odometer(maxAge: 3600) { distance } } }');
  expect(res.data!.vehicle.odometer.distance).toBeGreaterThan(0);
  expect(sim.requests(since).filter((r) => r.kind === 'api')).toEqual([]);
});

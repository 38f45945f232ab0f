import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import smartcar from 'smartcar';
import { startSimulator, type RunningSimulator } from '../../../src/simulator';
import { appToken, connectV3, sdk, v3Client, type V3Client, type V3Errors } from './v3-support';

/**
 * Webhooks as an app receives them: a plain node:http receiver answers VERIFY, then gets signed
 * VEHICLE_STATE and VEHICLE_ERROR events for the subscribed cars, with Smartcar's retries (scaled
 * down) and the fault modes.
 */

interface SignalRef {
  name: string;
  group: string;
  code: string;
}

interface WebhookEvent {
  eventId: string;
  eventType: string;
  data: {
    challenge?: string;
    user: { id: string; externalId?: string };
    vehicle: { id: string };
    signals: (SignalRef & { body?: unknown; status: { value: string }; meta?: unknown })[];
    errors: (Omit<SignalRef, 'name' | 'group'> & { type: string; state: string; signals: SignalRef[] })[];
  };
  triggers?: { type: string; signal: SignalRef }[];
  meta: Record<string, unknown>;
}

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  event: WebhookEvent;
  at: number;
}

let clock = Date.UTC(2026, 5, 1, 9, 0, 0);
let sim: RunningSimulator;
let api: V3Client;
let receiver: Server;
let receiverUrl = '';
const received: Received[] = [];
/** Per vehicle id: statuses to answer its next events with (then 200). */
const answers = new Map<string, number[]>();

function rawHmacOk(amt: string, raw: string, signature: string | undefined): boolean {
  const expected = Buffer.from(createHmac('sha256', amt).update(raw).digest('hex'));
  const given = Buffer.from(signature ?? '');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const event = JSON.parse(raw) as Received['event'];
      received.push({ path: req.url ?? '', headers: req.headers, raw, event, at: Date.now() });
      if (event.eventType === 'VERIFY') {
        const challenge = event.data.challenge!;
        const answer = req.url === '/wrong' ? 'not-the-hash' : sdk.hashChallenge(sim.v3.managementToken, challenge);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ challenge: answer }));
        return;
      }
      const vehicleId = event.data.vehicle?.id ?? '';
      res.writeHead(answers.get(vehicleId)?.shift() ?? 200).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  sim = await startSimulator({ now: () => clock, webhookRetryScale: 0.001, webhookPollMs: 50 });
  for (const [k, v] of Object.entries(sim.env)) process.env[k] = v;
  api = v3Client(sim, () => token);
  token = await appToken(sim);
});
let token = '';
afterAll(async () => {
  await sim.stop();
  receiver.close();
  receiver.closeAllConnections();
});

async function waitFor<T>(what: string, probe: () => T | undefined | false, ms = 5000): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    const v = probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const eventsAfter = (n: number, type?: string) => received.slice(n).filter((r) => type === undefined || r.event.eventType === type);

async function subscribe(username: string, mode = 'live') {
  const back = await connectV3(sim, username, { mode });
  const userId = back.get('user_id')!;
  const cars = sim.user(username).vehicles;
  for (const car of cars) {
    const res = await api.post<{ meta: { message: string } }>('/v3/subscriptions', { data: { attributes: { webhookId: sim.v3.webhookId, userId, vehicleId: car.id } } });
    expect([res.status, res.body]).toEqual([202, { meta: { message: 'subscription creation in progress' } }]);
  }
  return { userId, cars };
}

test('VERIFY: a wrong hash leaves the webhook unverified; the right one verifies it (signed, as the SDK and a raw HMAC check)', async () => {
  expect(sim.webhookStatus()).toEqual({ url: null, status: 'none', problem: null });
  const res = await fetch(`${sim.origin}/__simulator/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ webhookUrl: `${receiverUrl}/wrong` }) });
  expect(res.status).toBe(200);
  await waitFor('a failed VERIFY', () => sim.webhookStatus().status === 'failed');
  expect(sim.webhookStatus().problem).toBe('verification request responded with an invalid hash (424)');

  const before = received.length;
  sim.configure({ webhookUrl: `${receiverUrl}/hook` });
  await waitFor('verified', () => sim.webhookStatus().status === 'verified');
  const [verify] = eventsAfter(before);
  expect(verify!.path).toBe('/hook');
  expect(verify!.event).toEqual({
    eventId: expect.any(String), eventType: 'VERIFY', data: { challenge: expect.stringMatching(/^[0-9a-f]{32}$/) },
    meta: { version: '4.0', webhookId: sim.v3.webhookId, webhookName: expect.any(String), deliveryId: expect.any(String), deliveredAt: expect.stringMatching(/Z$/) },
  });
  expect(verify!.headers['content-type']).toBe('application/json');
  expect(rawHmacOk(sim.v3.managementToken, verify!.raw, verify!.headers['sc-signature'] as string)).toBe(true);
  expect(sdk.verifyPayload(sim.v3.managementToken, verify!.headers['sc-signature'] as string, verify!.event)).toBe(true);

  const bad = await fetch(`${sim.origin}/__simulator/config`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ webhookUrl: 'ftp://x', webhookFault: 'sometimes' }) });
  expect(((await bad.json()) as { error: string }).error).toBe('bad value for "webhookUrl"; bad value for "webhookFault"');
});

test('VERIFY is retried on the schedule while nobody listens yet, and a late receiver verifies the webhook', async () => {
  const late = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookEvent;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ challenge: sdk.hashChallenge(sim.v3.managementToken, event.data.challenge!) }));
    });
  });
  late.listen(0, '127.0.0.1');
  await once(late, 'listening');
  const port = (late.address() as AddressInfo).port;
  late.close();
  await once(late, 'close');
  try {
    sim.configure({ webhookRetryScale: 0.01, webhookUrl: `http://127.0.0.1:${port}/late` });
    await waitFor('a first attempt', () => sim.webhookDeliveries().some((d) => d.eventType === 'VERIFY' && d.status === 0));
    late.listen(port, '127.0.0.1');
    await once(late, 'listening');
    await waitFor('verified', () => sim.webhookStatus().status === 'verified');
    const attempts = sim.webhookDeliveries().filter((d) => d.eventType === 'VERIFY').slice(-2);
    expect(attempts.map((d) => d.status)).toEqual([0, 200]);
    expect(attempts[0]!.eventId).toBe(attempts[1]!.eventId);
  } finally {
    late.close();
    sim.configure({ webhookRetryScale: 0.001, webhookUrl: `${receiverUrl}/hook` });
    await waitFor('verified again', () => sim.webhookStatus().status === 'verified');
  }
});

test('subscribing sends FIRST_DELIVERY: every signal, signed; a second subscription is 409', async () => {
  const before = received.length;
  const { userId, cars } = await subscribe('v3-hook-first+ev@example.com');
  const car = cars[0]!;
  const first = await waitFor('FIRST_DELIVERY', () => eventsAfter(before, 'VEHICLE_STATE')[0]);
  const e = first.event;
  expect(e.triggers).toEqual([{ type: 'FIRST_DELIVERY' }]);
  expect(e.data.user).toEqual({ id: userId });
  expect(e.data.vehicle).toEqual({ id: car.id, make: car.make, model: car.model, year: car.year, powertrainType: 'BEV', mode: 'live' });
  expect(e.data.signals).toHaveLength(21);
  expect(e.meta).toEqual({ version: '4.0', webhookId: sim.v3.webhookId, webhookName: expect.any(String), signalCount: 21, mode: 'LIVE', deliveryId: expect.any(String), deliveredAt: clock });
  const odo = e.data.signals.find((s) => s.code === 'odometer-traveleddistance');
  expect(odo).toEqual({ code: 'odometer-traveleddistance', name: 'TraveledDistance', group: 'Odometer', body: { unit: 'kilometers', value: expect.any(Number) }, status: { value: 'SUCCESS' }, meta: { retrievedAt: clock, oemUpdatedAt: expect.any(Number) } });
  expect(rawHmacOk(sim.v3.managementToken, first.raw, first.headers['sc-signature'] as string)).toBe(true);
  expect(sdk.verifyPayload(sim.v3.managementToken, first.headers['sc-signature'] as string, e)).toBe(true);
  expect(rawHmacOk(sim.v3.managementToken, first.raw.replace('"LIVE"', '"TEST"'), first.headers['sc-signature'] as string)).toBe(false);

  const again = await api.post<V3Errors>('/v3/subscriptions', { data: { attributes: { webhookId: sim.v3.webhookId, userId, vehicleId: car.id } } });
  expect(again.status).toBe(409);
  const wrongHook = await api.post<V3Errors>('/v3/subscriptions', { data: { attributes: { webhookId: 'nope', userId, vehicleId: car.id } } });
  expect(wrongHook.status).toBe(404);
  const notConnected = await api.post<V3Errors>('/v3/subscriptions', { data: { attributes: { webhookId: sim.v3.webhookId, userId, vehicleId: 'b1c2' } } });
  expect([notConnected.status, notConnected.body.errors[0]!.code]).toEqual([404, 'VEHICLE_NOT_FOUND']);
  const list = await api.get<{ data: { id: string; relationships: { vehicle: { data: { id: string } } } }[] }>(`/v3/subscriptions?filter[userId]=${userId}`);
  expect(list.body.data.map((s) => s.relationships.vehicle.data.id)).toEqual([car.id]);
});

test('a command sends VEHICLE_STATE with SIGNAL_UPDATED for what it changed', async () => {
  const before = received.length;
  const { userId, cars } = await subscribe('v3-hook-cmd+fuel@example.com');
  const car = cars[0]!;
  await waitFor('FIRST_DELIVERY', () => eventsAfter(before, 'VEHICLE_STATE').find((r) => r.event.data.vehicle.id === car.id));
  const mark = received.length;
  const res = await api.post(`/v3/vehicles/${car.id}/commands/security/unlock`, undefined, userId);
  expect(res.status).toBe(200);
  const update = await waitFor('the update', () => eventsAfter(mark, 'VEHICLE_STATE').find((r) => r.event.data.vehicle.id === car.id));
  expect(update.event.triggers!.map((t) => `${t.type} ${t.signal.code}`).sort()).toEqual([
    'SIGNAL_UPDATED closure-doors', 'SIGNAL_UPDATED closure-fronttrunk', 'SIGNAL_UPDATED closure-islocked', 'SIGNAL_UPDATED closure-reartrunk',
  ]);
  expect(update.event.triggers![0]!.signal).toEqual({ name: expect.any(String), group: 'Closure', code: expect.stringMatching(/^closure-/) });
  expect(update.event.data.signals.find((s) => s.code === 'closure-islocked')!.body).toEqual({ value: false });
  expect(sdk.verifyPayload(sim.v3.managementToken, update.headers['sc-signature'] as string, update.event)).toBe(true);
});

test('a v2 command on the same car sends VEHICLE_STATE at once', async () => {
  const username = 'v3-hook-v2cmd@example.com';
  const before = received.length;
  const { cars } = await subscribe(username);
  const car = cars[0]!;
  await waitFor('FIRST_DELIVERY', () => eventsAfter(before, 'VEHICLE_STATE').find((r) => r.event.data.vehicle.id === car.id));
  const back = await connectV3(sim, username);
  const auth = new smartcar.AuthClient({ clientId: sim.client.clientId, clientSecret: sim.client.clientSecret, redirectUri: 'https://app.example/callback' });
  const access = await auth.exchangeCode(back.get('code')!);
  sim.configure({ webhookPollMs: 0 });
  try {
    const mark = received.length;
    await new smartcar.Vehicle(car.id, access.accessToken).unlock();
    const update = await waitFor('the update', () => eventsAfter(mark, 'VEHICLE_STATE').find((r) => r.event.data.vehicle.id === car.id));
    expect(update.event.triggers!.map((t) => t.signal.code)).toContain('closure-islocked');
  } finally {
    sim.configure({ webhookPollMs: 50 });
  }
});

test('readings that change with time send VEHICLE_STATE on the next poll', async () => {
  const before = received.length;
  const { cars } = await subscribe('v3-hook-time+ev@example.com');
  const car = cars[0]!;
  await waitFor('FIRST_DELIVERY', () => eventsAfter(before, 'VEHICLE_STATE').find((r) => r.event.data.vehicle.id === car.id));
  await new Promise((r) => setTimeout(r, 200));
  const mark = received.length;
  expect(eventsAfter(mark)).toEqual([]);
  clock += 3_600_000;
  const update = await waitFor('the update', () => eventsAfter(mark, 'VEHICLE_STATE').find((r) => r.event.data.vehicle.id === car.id));
  const codes = update.event.triggers!.map((t) => t.signal.code);
  expect(codes).toContain('odometer-traveleddistance');
  expect(codes).not.toContain('vehicleidentification-vin');
  // An hour later the app token has expired, as Smartcar's does.
  expect((await api.get('/v3/connections')).status).toBe(401);
  token = await appToken(sim);
});

test('a non-2xx answer is retried with the same eventId and a new deliveryId, on the scaled schedule, then dropped', async () => {
  const before = received.length;
  const { cars } = await subscribe('v3-hook-retry@example.com');
  const car = cars[0]!;
  await waitFor('FIRST_DELIVERY', () => eventsAfter(before, 'VEHICLE_STATE').find((r) => r.event.data.vehicle.id === car.id));

  let mark = received.length;
  answers.set(car.id, [500, 503]);
  const sent = await fetch(`${sim.origin}/__simulator/vehicles/${car.id}/webhook`, { method: 'POST' });
  expect(await sent.json()).toEqual({ sent: 1 });
  const mine = () => eventsAfter(mark).filter((r) => r.event.data.vehicle?.id === car.id);
  const three = await waitFor('three attempts', () => mine().length >= 3 && mine());
  expect(new Set(three.map((r) => r.event.eventId)).size).toBe(1);
  expect(new Set(three.map((r) => r.event.meta.deliveryId)).size).toBe(3);
  for (const r of three) expect(sdk.verifyPayload(sim.v3.managementToken, r.headers['sc-signature'] as string, r.event)).toBe(true);
  // The simulator records an attempt once its answer is read, a moment after the receiver saw it.
  const logOf = () => sim.webhookDeliveries().filter((d) => d.eventId === three[0]!.event.eventId);
  const log = await waitFor('the third attempt recorded', () => logOf().length >= 3 && logOf());
  expect(log.map((d) => [d.attempt, d.status])).toEqual([[1, 500], [2, 503], [3, 200]]);
  await new Promise((r) => setTimeout(r, 300));
  expect(mine()).toHaveLength(3);

  mark = received.length;
  answers.set(car.id, [500, 500, 500, 500]);
  expect(sim.sendWebhook(car.id)).toBe(1);
  const four = await waitFor('four attempts', () => mine().length >= 4 && mine());
  const gaps = four.slice(1).map((r, i) => r.at - four[i]!.at);
  expect(gaps[0]).toBeGreaterThanOrEqual(20);
  expect(gaps[1]).toBeGreaterThanOrEqual(45);
  expect(gaps[2]).toBeGreaterThanOrEqual(95);
  await new Promise((r) => setTimeout(r, 400));
  expect(mine()).toHaveLength(4);
}, 20_000);

test('fault modes: every event twice, or out of order', async () => {
  const before = received.length;
  const { cars } = await subscribe('v3-hook-faults+2+ev@example.com');
  const [a, b] = cars as [typeof cars[0], typeof cars[0]];
  await waitFor('both FIRST_DELIVERY', () => eventsAfter(before, 'VEHICLE_STATE').filter((r) => [a.id, b.id].includes(r.event.data.vehicle.id)).length === 2);
  try {
    sim.configure({ webhookFault: 'duplicate' });
    let mark = received.length;
    sim.sendWebhook(a.id);
    const twice = await waitFor('two deliveries', () => eventsAfter(mark).length >= 2 && eventsAfter(mark));
    expect(twice[0]!.event.eventId).toBe(twice[1]!.event.eventId);
    expect(twice[0]!.event.meta.deliveryId).not.toBe(twice[1]!.event.meta.deliveryId);

    sim.configure({ webhookFault: 'reorder' });
    mark = received.length;
    sim.sendWebhook(a.id);
    sim.sendWebhook(b.id);
    const swapped = await waitFor('two deliveries', () => eventsAfter(mark).length >= 2 && eventsAfter(mark));
    expect(swapped.map((r) => r.event.data.vehicle.id)).toEqual([b.id, a.id]);
  } finally {
    sim.configure({ webhookFault: 'none' });
  }
});

test('VEHICLE_ERROR for a car in error; unsubscribing and deleting the connection end deliveries', async () => {
  const before = received.length;
  const { userId, cars } = await subscribe('v3-hook-asleep+asleep+ev@example.com', 'test');
  const car = cars[0]!;
  const error = await waitFor('VEHICLE_ERROR', () => eventsAfter(before, 'VEHICLE_ERROR').find((r) => r.event.data.vehicle.id === car.id));
  expect(error.event.meta).toMatchObject({ version: '4.0', mode: 'TEST', webhookId: sim.v3.webhookId });
  expect(error.event.data.user).toEqual({ id: userId });
  const asleep = error.event.data.errors.find((x) => x.code === 'ASLEEP');
  expect(asleep).toEqual({
    type: 'VEHICLE_STATE', code: 'ASLEEP', description: expect.any(String), docURL: 'https://smartcar.com/docs/errors/api-errors/vehicle-state-errors#asleep',
    resolution: { type: 'RETRY_LATER' }, state: 'ERROR', signals: expect.arrayContaining([{ name: 'TraveledDistance', group: 'Odometer', code: 'odometer-traveleddistance' }]),
  });
  expect(sdk.verifyPayload(sim.v3.managementToken, error.headers['sc-signature'] as string, error.event)).toBe(true);

  const subs = await api.get<{ data: { id: string }[] }>(`/v3/subscriptions?filter[vehicleId]=${car.id}`);
  expect(subs.body.data).toHaveLength(1);
  expect((await api.del(`/v3/subscriptions/${subs.body.data[0]!.id}`)).status).toBe(204);
  expect(sim.sendWebhook(car.id)).toBe(0);

  const other = await subscribe('v3-hook-gone@example.com');
  expect(sim.sendWebhook(other.cars[0]!.id)).toBe(1);
  const conn = await api.get<{ data: { id: string }[] }>(`/v3/connections?filter[userId]=${other.userId}`);
  expect((await api.del(`/v3/connections/${conn.body.data[0]!.id}`)).status).toBe(204);
  expect(sim.sendWebhook(other.cars[0]!.id)).toBe(0);
  expect((await api.get<{ data: unknown[] }>(`/v3/subscriptions?filter[userId]=${other.userId}`)).body.data).toEqual([]);
});

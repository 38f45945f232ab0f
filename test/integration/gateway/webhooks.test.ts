import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import smartcar from 'smartcar';
import { Client, startStack, type Stack } from '../../support/gateway';
import { subscribeLive, type LiveSubscription } from '../../support/live';
import { connectV3Car } from '../../support/v3';
import type { RunningApp } from '../../../src/app';

/**
 * Smartcar's webhooks into running gateways: the simulator (API v3) signs and delivers its own events
 * to `POST /webhooks/smartcar`, and the tests also post hand-made events signed with the same
 * Application Management Token, to pin the rules (signature, once per eventId, newer only, errors).
 */

let stack: Stack;
/** The simulator's clock: readings move with it (the odometer grows); never behind real time. */
let clock = Date.now();

beforeAll(async () => {
  stack = await startStack({ env: (sim) => ({ ...sim.v3Env }), simulator: { now: () => clock, webhookRetryScale: 0.01 } });
  // Application tokens that outlive the days the tests move the simulator's clock on.
  stack.sim.configure({ webhookUrl: `${stack.url}/webhooks/smartcar`, appTokenTtlSec: 30 * 86_400 });
  await until(() => stack.sim.webhookStatus().status === 'verified');
}, 30_000);
afterAll(() => stack?.stop());

const AMT = () => stack.sim.v3.managementToken;
const unique = () => `wh-${randomBytes(4).toString('hex')}+2+ev@example.com`;
const seq = () => stack.sim.requests().at(-1)?.seq ?? 0;
/** Requests the gateway sent to the simulator's Vehicle and management APIs since `since`. */
const upstream = (since: number) => stack.sim.requests(since).filter((r) => r.kind === 'api' || r.kind === 'token').map((r) => `${r.method} ${r.path}`);

async function until(ok: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function post(body: unknown, signature: string | null = 'good'): Promise<{ status: number; body: Record<string, unknown> }> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (signature !== null) headers['sc-signature'] = signature === 'good' ? createHmac('sha256', AMT()).update(raw).digest('hex') : signature;
  const res = await fetch(`${stack.url}/webhooks/smartcar`, { method: 'POST', headers, body: raw });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A VEHICLE_STATE (payload 4.0) of one odometer reading. */
const odometerEvent = (vehicleId: string, km: number, oemUpdatedAt: number, eventId = randomUUID()) => ({
  eventId,
  eventType: 'VEHICLE_STATE',
  data: {
    user: { id: randomUUID() },
    vehicle: { id: vehicleId, make: 'TESLA', model: 'Model 3', year: 2020 },
    signals: [
      {
        code: 'odometer-traveleddistance',
        name: 'TraveledDistance',
        group: 'Odometer',
        body: { unit: 'km', value: km },
        status: { value: 'SUCCESS' },
        meta: { retrievedAt: oemUpdatedAt, oemUpdatedAt },
      },
    ],
  },
  triggers: [{ type: 'SIGNAL_UPDATED', signal: { name: 'TraveledDistance', group: 'Odometer', code: 'odometer-traveleddistance' } }],
  meta: { version: '4.0', deliveryId: randomUUID(), deliveredAt: Date.now(), webhookId: stack.sim.v3.webhookId, webhookName: 'w', signalCount: 1, mode: 'TEST' },
});

const ODOMETER = 'query($id: ID!) { vehicle(id: $id) { odometer(maxAge: 3600) { distance dataAge } } }';

async function odometer(client: Client, id: string) {
  const r = await client.gql<{ vehicle: { odometer: { distance: number; dataAge: string | null } | null } }>(ODOMETER, { id });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.vehicle.odometer!;
}

async function connected(): Promise<{ client: Client; vehicleId: string }> {
  const client = new Client(stack.url);
  const [vehicleId] = await connectV3Car(client, unique());
  return { client, vehicleId: vehicleId! };
}

test('a connected car is subscribed to the webhook; its VEHICLE_STATE makes the next odometer(maxAge: 3600) answer the webhook value, with no upstream request', async () => {
  const before = seq();
  const { client, vehicleId } = await connected();
  expect(upstream(before)).toContain('POST /v3/subscriptions');
  // Subscribing sends FIRST_DELIVERY: the cache holds the car's odometer before anyone asked.
  const states = () => stack.sim.webhookDeliveries().filter((d) => d.vehicleId === vehicleId && d.eventType === 'VEHICLE_STATE' && d.status === 200).length;
  await until(() => states() === 1);

  clock += 86_400_000; // a day later the car has driven on
  const since = seq();
  expect(stack.sim.sendWebhook(vehicleId)).toBe(1);
  await until(() => states() === 2); // answered 200: applied
  const fromWebhook = await odometer(client, vehicleId);
  expect(upstream(since)).toEqual([]);
  // What Smartcar itself says now (maxAge 0 asks it): the same reading.
  const r = await client.gql<{ vehicle: { odometer: { distance: number } } }>('query($id: ID!) { vehicle(id: $id) { odometer(maxAge: 0) { distance } } }', { id: vehicleId });
  expect(r.data!.vehicle.odometer.distance).toBe(fromWebhook.distance);
  expect(upstream(since)).toEqual([`GET /v3/vehicles/${vehicleId}/signals`]);
  expect(new Date(fromWebhook.dataAge!).getTime()).toBeLessThanOrEqual(clock);
}, 30_000);

test('a bad or missing signature: 401 and nothing written; a good one is applied', async () => {
  const { client, vehicleId } = await connected();
  // Dated after the simulator's own readings (its clock runs ahead after the first test).
  const now = clock + 60_000;
  const event = odometerEvent(vehicleId, 123_456, now);
  expect(await post(event, null)).toEqual({ status: 401, body: { error: 'bad signature' } });
  expect(await post(event, createHmac('sha256', 'another key').update(JSON.stringify(event)).digest('hex'))).toEqual({ status: 401, body: { error: 'bad signature' } });
  expect(await post(event, 'zz')).toEqual({ status: 401, body: { error: 'bad signature' } });
  // The signature is over the bytes: the same event re-serialised with a space is not the signed one.
  const raw = JSON.stringify(event);
  const sig = createHmac('sha256', AMT()).update(raw).digest('hex');
  expect(await post(raw.replace('"VEHICLE_STATE"', ' "VEHICLE_STATE"'), sig)).toEqual({ status: 401, body: { error: 'bad signature' } });
  expect((await odometer(client, vehicleId)).distance).not.toBe(123_456);

  expect(await post(event)).toEqual({ status: 200, body: { ok: true } });
  expect(await odometer(client, vehicleId)).toEqual({ distance: 123_456, dataAge: new Date(now).toISOString() });
}, 30_000);

test('the same eventId twice is applied once; an older event after a newer one leaves the newer reading', async () => {
  const { client, vehicleId } = await connected();
  const t = clock + 120_000;
  const id = randomUUID();
  expect((await post(odometerEvent(vehicleId, 200_001, t, id))).status).toBe(200);
  // Smartcar's retry carries the same eventId: not applied again, even with other content.
  expect(await post(odometerEvent(vehicleId, 200_002, t + 1000, id))).toEqual({ status: 200, body: { ok: true } });
  expect((await odometer(client, vehicleId)).distance).toBe(200_001);

  expect((await post(odometerEvent(vehicleId, 200_010, t + 10_000))).status).toBe(200);
  expect((await post(odometerEvent(vehicleId, 200_005, t + 5_000))).status).toBe(200); // delivered late
  expect((await odometer(client, vehicleId)).distance).toBe(200_010);
  const metrics = await (await fetch(`${stack.url}/metrics`)).text();
  expect(metrics).toMatch(/gateway_webhooks_total\{type="VEHICLE_STATE",outcome="duplicate"\} [1-9]/);
  expect(metrics).toMatch(/gateway_webhook_readings_total\{result="stale"\} [1-9]/);
}, 30_000);

test("VERIFY is answered as Smartcar computes it (the SDK's hashChallenge), signed or not", async () => {
  const challenge = randomBytes(12).toString('hex');
  const verify = { eventId: randomUUID(), eventType: 'VERIFY', data: { challenge }, meta: { version: '4.0', webhookId: stack.sim.v3.webhookId } };
  const expected = { status: 200, body: { challenge: smartcar.hashChallenge(AMT(), challenge) } };
  expect(await post(verify)).toEqual(expected);
  expect(await post(verify, null)).toEqual(expected);
  // The legacy 2.0 form.
  expect(await post({ version: '2.0', webhookId: 'w', eventName: 'verify', payload: { challenge } })).toEqual(expected);
  // And the simulator, which checks the answer itself, verified the gateway's webhook.
  expect(stack.sim.webhookStatus()).toMatchObject({ status: 'verified', problem: null });
});

test('a VEHICLE_ERROR is recorded on the connection: the next read answers its code without asking Smartcar, until RESOLVED', async () => {
  const { client, vehicleId } = await connected();
  const error = (state: 'ERROR' | 'RESOLVED') => ({
    eventId: randomUUID(),
    eventType: 'VEHICLE_ERROR',
    data: {
      user: { id: randomUUID() },
      vehicle: { id: vehicleId, make: 'TESLA', model: 'Model 3', year: 2020 },
      errors: [
        {
          type: 'VEHICLE_STATE',
          code: 'ASLEEP',
          description: 'The vehicle is asleep.',
          resolution: { type: 'RETRY_LATER' },
          state,
          signals: [{ name: 'IsLocked', group: 'Closure', code: 'closure-islocked' }],
        },
      ],
    },
    meta: { version: '4.0', deliveryId: randomUUID(), deliveredAt: Date.now(), webhookId: stack.sim.v3.webhookId, mode: 'TEST' },
  });
  const LOCK = 'query($id: ID!) { vehicle(id: $id) { lockStatus(maxAge: 3600) { isLocked } odometer(maxAge: 3600) { distance } } }';
  expect((await post(error('ERROR'))).status).toBe(200);
  const since = seq();
  const r = await client.gql<{ vehicle: { lockStatus: null; odometer: { distance: number } } }>(LOCK, { id: vehicleId });
  expect(r.data!.vehicle.lockStatus).toBeNull();
  expect(r.errors!.map((e) => [e.path, e.extensions?.code, (e.extensions?.smartcar as { type: string; code: string }).code])).toEqual([[['vehicle', 'lockStatus'], 'VEHICLE_STATE', 'ASLEEP']]);
  expect(r.data!.vehicle.odometer.distance).toBeGreaterThan(0); // the rest of the car still answers (from the cache)
  expect(upstream(since)).toEqual([]);

  expect((await post(error('RESOLVED'))).status).toBe(200);
  const again = await client.gql<{ vehicle: { lockStatus: { isLocked: boolean } } }>(LOCK, { id: vehicleId });
  expect(again.errors).toBeUndefined();
  expect(typeof again.data!.vehicle.lockStatus.isLocked).toBe('boolean');
}, 30_000);

test('events for a vehicle no session holds, TEST-mode deliveries in test mode, and other event types: acknowledged', async () => {
  expect(await post(odometerEvent(randomUUID(), 1, Date.now()))).toEqual({ status: 200, body: { ok: true } });
  expect(await post({ eventId: randomUUID(), eventType: 'VEHICLE_CONNECTION_STATUS', data: {}, meta: { version: '4.0' } })).toEqual({ status: 200, body: { ok: true } });
  expect(await post('{"eventType":')).toEqual({ status: 400, body: { error: 'the body is not JSON' } });
});

test('disconnecting a car ends its webhook subscription at Smartcar', async () => {
  const { client, vehicleId } = await connected();
  const since = seq();
  const r = await client.gql<{ disconnectVehicle: boolean }>('mutation($id: ID!) { disconnectVehicle(id: $id) }', { id: vehicleId });
  expect(r.data!.disconnectVehicle).toBe(true);
  expect(upstream(since)).toContain('GET /v3/subscriptions');
  expect(stack.sim.sendWebhook(vehicleId)).toBe(0); // nothing subscribed any more
}, 30_000);

describe('live: a subscriber on another gateway', () => {
  let b: RunningApp;
  const subs: LiveSubscription[] = [];
  beforeAll(async () => {
    b = await stack.another();
  }, 30_000);
  afterAll(async () => {
    await Promise.all(subs.map((x) => x.dispose()));
  });
  const live = (client: Client, vehicleId: string) => {
    const sub = subscribeLive(b.url, client.cookies.get('sid')!, 'subscription($id: ID) { vehicleUpdated(id: $id) { id odometer { distance } lockStatus { isLocked } } }', { id: vehicleId });
    subs.push(sub);
    return sub;
  };
  const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

  test('gets the update within a second of a webhook delivered to gateway A, and of a command through A; another session gets nothing; no subscription costs an upstream request', async () => {
    const mine = await connected();
    const theirs = await connected();
    const sub = live(mine.client, mine.vehicleId);
    const other = live(theirs.client, theirs.vehicleId);
    await settle(300); // both subscribed (the subscribe is answered before the first event)

    const before = seq();
    const sent = performance.now();
    expect(await post(odometerEvent(mine.vehicleId, 300_000, clock + 300_000))).toEqual({ status: 200, body: { ok: true } });
    await until(() => sub.results.length >= 1, 1_000);
    const first = sub.results[0]!;
    expect(first.at - sent).toBeLessThan(1_000);
    expect(first.result.errors).toBeUndefined();
    expect(first.result.data!.vehicleUpdated).toMatchObject({ id: mine.vehicleId, odometer: { distance: 300_000 } });
    // Answered from the cache only: nothing reached Smartcar's Vehicle API.
    expect(upstream(before)).toEqual([]);

    // A command through gateway A (the simulator then sends its own VEHICLE_STATE to A as well).
    const commandSent = performance.now();
    const r = await mine.client.gql<{ lockVehicle: { status: string } }>('mutation($id: ID!) { lockVehicle(id: $id) { status } }', { id: mine.vehicleId });
    expect(r.errors).toBeUndefined();
    await until(() => sub.results.length >= 2, 1_000);
    expect(sub.results[1]!.at - commandSent).toBeLessThan(1_000);
    expect(upstream(before).filter((x) => !x.startsWith('POST /v3/vehicles/'))).toEqual([]); // only the command itself

    await settle(300);
    expect(other.results).toEqual([]); // the other session heard nothing of this car
    expect(other.error).toBeNull();
    // Positive control: the other session's own car does reach it.
    expect((await post(odometerEvent(theirs.vehicleId, 400_000, clock + 300_000))).status).toBe(200);
    await until(() => other.results.length === 1, 1_000);
    expect(other.results[0]!.result.data!.vehicleUpdated).toMatchObject({ id: theirs.vehicleId, odometer: { distance: 400_000 } });
  }, 30_000);

  test("a query's fresh reading on gateway A reaches the session's subscriber on B", async () => {
    const mine = await connected();
    const sub = live(mine.client, mine.vehicleId);
    await settle(300);
    clock += 3_600_000;
    const r = await mine.client.gql<{ vehicle: { odometer: { distance: number } } }>('query($id: ID!) { vehicle(id: $id) { odometer(maxAge: 0) { distance } } }', { id: mine.vehicleId });
    await until(() => sub.results.some((x) => (x.result.data?.vehicleUpdated.odometer as { distance: number } | null)?.distance === r.data!.vehicle.odometer.distance), 1_000);
  }, 30_000);
});

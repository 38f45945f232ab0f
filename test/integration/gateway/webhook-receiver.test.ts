import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type Redis from 'ioredis';
import { createLogger } from '../../../src/logger';
import { EventLedger } from '../../../src/live/event-ledger';
import { WebhookReceiver, type ApplyEvent, type ReceiverOptions } from '../../../src/live/webhook.receiver';
import { privateKeyspace } from '../../support/redis';

/** The webhook receiver on the test Redis (its ledger), with a recording apply in place of the cache. */

const AMT = `amt-${randomBytes(8).toString('hex')}`;
const OPTIONS: ReceiverOptions = { managementToken: AMT, concurrency: 2, maxQueued: 2, applyTimeoutMs: 500, actOnTest: false };
const { redis: keyspace } = privateKeyspace('wr');
let redis: Redis;
beforeAll(() => {
  redis = keyspace();
});

const sign = (raw: Buffer, key = AMT) => createHmac('sha256', key).update(raw).digest('hex');
const state = (eventId = randomUUID(), mode = 'LIVE') =>
  Buffer.from(
    JSON.stringify({
      eventId,
      eventType: 'VEHICLE_STATE',
      data: { user: { id: 'u-1' }, vehicle: { id: 'v-1' }, signals: [{ code: 'odometer-traveleddistance', body: { value: 100, unit: 'km' }, status: { value: 'SUCCESS' }, meta: { oemUpdatedAt: 1, retrievedAt: 2 } }] },
      triggers: [{ type: 'SIGNAL_UPDATED', signal: { code: 'odometer-traveleddistance' } }],
      meta: { version: '4.0', mode },
    }),
  );

function receiver(apply: ApplyEvent, options: Partial<ReceiverOptions> = {}) {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { receiver: new WebhookReceiver(new EventLedger(redis), apply, { ...OPTIONS, ...options }, createLogger('info', sink)), logs };
}

const recorder = () => {
  const applied: string[] = [];
  const apply: ApplyEvent = async (e) => {
    applied.push(`${e.kind}:${e.eventId}:${e.vehicleId}`);
  };
  return { applied, apply };
};

test('a signed event is applied once, whatever the retries; the answer is 200 each time', async () => {
  const { applied, apply } = recorder();
  const { receiver: r } = receiver(apply);
  const id = randomUUID();
  const raw = state(id);
  expect(await r.handle(raw, sign(raw))).toEqual({ status: 200, outcome: 'applied', type: 'VEHICLE_STATE', body: { ok: true } });
  expect(await r.handle(raw, sign(raw))).toEqual({ status: 200, outcome: 'duplicate', type: 'VEHICLE_STATE', body: { ok: true } });
  // Another instance, the same Redis: still once.
  expect((await receiver(apply).receiver.handle(raw, sign(raw))).outcome).toBe('duplicate');
  expect(applied).toEqual([`state:${id}:v-1`]);
});

test.each([
  ['no signature', undefined],
  ['another key', 'other-key'],
  ['a signature of other bytes', 'other-bytes'],
])('%s: 401, nothing applied, nothing remembered', async (_what, how) => {
  const { applied, apply } = recorder();
  const { receiver: r, logs } = receiver(apply);
  const id = randomUUID();
  const raw = state(id);
  const header = how === undefined ? undefined : how === 'other-key' ? sign(raw, 'nope') : sign(Buffer.concat([raw, Buffer.from(' ')]));
  expect(await r.handle(raw, header)).toEqual({ status: 401, outcome: 'bad_signature', type: 'VEHICLE_STATE', body: { error: 'bad signature' } });
  expect(applied).toEqual([]);
  expect(await r.handle(raw, sign(raw))).toMatchObject({ status: 200, outcome: 'applied' }); // not marked by the refused one
  expect(logs.map((l) => JSON.parse(l).msg)).toEqual(['webhook refused: SC-Signature does not match the body (check SMARTCAR_MANAGEMENT_TOKEN)']);
  expect(logs.join()).not.toContain(AMT);
});

test('VERIFY is answered with the HMAC of the challenge, signed or not; nothing is applied', async () => {
  const { applied, apply } = recorder();
  const { receiver: r } = receiver(apply);
  const raw = Buffer.from(JSON.stringify({ eventId: 'e', eventType: 'VERIFY', data: { challenge: 'ch-1' }, meta: { version: '4.0' } }));
  const expected = { status: 200, outcome: 'verified', type: 'VERIFY', body: { challenge: createHmac('sha256', AMT).update('ch-1').digest('hex') } };
  expect(await r.handle(raw, undefined)).toEqual(expected);
  expect(await r.handle(raw, sign(raw))).toEqual(expected);
  expect(applied).toEqual([]);
});

test('not JSON or not an event: 400 when signed, 401 when not; TEST mode and unknown types acknowledged, not applied', async () => {
  const { applied, apply } = recorder();
  const { receiver: r } = receiver(apply);
  const junk = Buffer.from('{"eventType":');
  expect(await r.handle(junk, sign(junk))).toEqual({ status: 400, outcome: 'bad_payload', type: 'unknown', body: { error: 'the body is not JSON' } });
  expect((await r.handle(junk, undefined)).status).toBe(401);
  const noVehicle = Buffer.from(JSON.stringify({ eventId: 'e', eventType: 'VEHICLE_STATE', data: {} }));
  expect(await r.handle(noVehicle, sign(noVehicle))).toEqual({ status: 400, outcome: 'bad_payload', type: 'unknown', body: { error: 'VEHICLE_STATE without data.vehicle.id' } });
  const test = state(randomUUID(), 'TEST');
  expect(await r.handle(test, sign(test))).toMatchObject({ status: 200, outcome: 'test' });
  const other = Buffer.from(JSON.stringify({ eventId: 'e', eventType: 'VEHICLE_CONNECTION_STATUS', data: {} }));
  expect(await r.handle(other, sign(other))).toMatchObject({ status: 200, outcome: 'ignored' });
  expect(applied).toEqual([]);
});

test('an apply that fails or runs too long: 500, released, and the retry applies it', async () => {
  let fail: 'throw' | 'hang' | null = 'throw';
  const applied: string[] = [];
  const { receiver: r } = receiver(async (e) => {
    if (fail === 'throw') throw new Error('Redis went away');
    if (fail === 'hang') await new Promise((res) => setTimeout(res, 2_500));
    applied.push(e.eventId);
  });
  const id = randomUUID();
  const raw = state(id);
  expect(await r.handle(raw, sign(raw))).toMatchObject({ status: 500, outcome: 'failed' });
  fail = 'hang';
  const started = Date.now();
  expect(await r.handle(raw, sign(raw))).toMatchObject({ status: 500, outcome: 'failed' });
  expect(Date.now() - started).toBeLessThan(2_000); // answered at the 500 ms timeout, not when the apply ends
  fail = null;
  expect(await r.handle(raw, sign(raw))).toMatchObject({ status: 200, outcome: 'applied' });
  await new Promise((res) => setTimeout(res, 2_600)); // the hung one finishes late: it applied too (harmless: newer only)
  expect(applied).toEqual([id, id]);
  expect(await r.handle(raw, sign(raw))).toMatchObject({ status: 200, outcome: 'duplicate' });
}, 15_000);

test('the same event on two deliveries at once: one applies, the other is told to retry (503)', async () => {
  let release!: () => void;
  const gate = new Promise<void>((res) => (release = res));
  const applied: string[] = [];
  const { receiver: r } = receiver(
    async (e) => {
      await gate;
      applied.push(e.eventId);
    },
    { applyTimeoutMs: 10_000 },
  );
  const raw = state();
  const first = r.handle(raw, sign(raw));
  await new Promise((res) => setTimeout(res, 50));
  expect(await r.handle(raw, sign(raw))).toMatchObject({ status: 503, outcome: 'in_progress' });
  release();
  expect(await first).toMatchObject({ status: 200, outcome: 'applied' });
  expect(applied).toHaveLength(1);
});

test('a burst: two applied at once, two wait, the rest refused at once with 503', async () => {
  let release!: () => void;
  const gate = new Promise<void>((res) => (release = res));
  let inFlight = 0;
  let most = 0;
  const { receiver: r } = receiver(
    async () => {
      most = Math.max(most, ++inFlight);
      await gate;
      inFlight--;
    },
    { applyTimeoutMs: 10_000 }, // not what this test is about (a loaded machine is slow)
  );
  const bodies = Array.from({ length: 7 }, () => state());
  const answers = bodies.map((raw) => r.handle(raw, sign(raw)));
  const refused = await Promise.race([Promise.all(answers.slice(4)), new Promise((res) => setTimeout(() => res('waited'), 300))]);
  expect(refused).toEqual([0, 1, 2].map(() => ({ status: 503, outcome: 'busy', type: 'VEHICLE_STATE', body: { error: 'busy: retry later' } })));
  // Both turns taken (each claims its event in Redis first, which a loaded machine makes slow).
  for (const end = Date.now() + 5_000; inFlight < 2 && Date.now() < end; ) await new Promise((res) => setTimeout(res, 10));
  release();
  expect((await Promise.all(answers.slice(0, 4))).map((a) => a.outcome)).toEqual(['applied', 'applied', 'applied', 'applied']);
  expect(most).toBe(2);
  // Room again afterwards.
  const again = state();
  expect((await r.handle(again, sign(again))).outcome).toBe('applied');
});

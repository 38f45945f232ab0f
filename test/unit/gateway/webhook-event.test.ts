import smartcarSdk from 'smartcar';
import { challengeAnswer, parseWebhookEvent, signatureMatches, WebhookPayloadError } from '../../../src/live/webhook.event';
import { epochMs } from '../../../src/smartcar/v3.mapping';

const AMT = 'amt-0f3c2b';
/** The SDK's webhook helpers (not in the gateway's declarations of it: the gateway does not use them). */
const smartcar = smartcarSdk as unknown as {
  hashChallenge(amt: string, challenge: string): string;
  verifyPayload(amt: string, signature: string, body: unknown): boolean;
};

describe('SC-Signature', () => {
  const body = Buffer.from('{"eventId":"e1","eventType":"VEHICLE_STATE","data":{"vehicle":{"id":"v1"},"signals":[]}}');
  const good = smartcar.hashChallenge(AMT, body.toString());

  test.each([
    ['the SDK’s hash of the raw body', good, true],
    ['upper-case hex', good.toUpperCase(), true],
    ['with a sha256= prefix and spaces', ` sha256=${good} `, true],
    ['another key', smartcar.hashChallenge('other', body.toString()), false],
    ['one digit changed', `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`, false],
    ['truncated', good.slice(0, 63), false],
    ['not hex', 'z'.repeat(64), false],
    ['empty', '', false],
    ['absent', undefined, false],
  ])('%s: %s', (_what, header, ok) => {
    expect(signatureMatches(body, header, AMT)).toBe(ok);
  });

  test('the raw bytes are what counts: the same JSON re-spaced does not match', () => {
    const spaced = Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 1));
    expect(signatureMatches(spaced, good, AMT)).toBe(false);
    // The SDK’s verifyPayload re-serialises the parsed body: it agrees only for compact JSON.
    expect(smartcar.verifyPayload(AMT, good, JSON.parse(body.toString()))).toBe(true);
  });

  test('VERIFY is answered with the SDK’s hashChallenge', () => {
    expect(challengeAnswer('c-123', AMT)).toEqual({ challenge: smartcar.hashChallenge(AMT, 'c-123') });
    expect(challengeAnswer('c-123', AMT).challenge).toMatch(/^[0-9a-f]{64}$/);
  });
});

test.each([
  [1758668712404, 1758668712404],
  [1758668712, 1758668712000],
  ['1758668712404', 1758668712404],
  ['2025-09-23T23:05:12.404Z', 1758668712404],
  ['yesterday', null],
  [null, null],
  [-5, null],
  [Number.NaN, null],
])('epochMs(%p) = %p', (given, ms) => {
  expect(epochMs(given)).toBe(ms);
});

describe('parseWebhookEvent', () => {
  const vehicle = { id: 'v-1', make: 'TESLA', model: 'Model 3', year: 2021 };
  const soc = {
    code: 'tractionbattery-stateofcharge',
    name: 'StateOfCharge',
    group: 'TractionBattery',
    body: { unit: 'percent', value: 75 },
    status: { value: 'SUCCESS' },
    meta: { retrievedAt: 1758668712404, oemUpdatedAt: 1758668700000 },
  };

  test('VEHICLE_STATE 4.0: signals, their status and times, the trigger', () => {
    const event = parseWebhookEvent({
      eventId: 'e-1',
      eventType: 'VEHICLE_STATE',
      data: {
        user: { id: 'u-1' },
        vehicle,
        signals: [soc, { code: 'location-isathome', status: { value: 'ERROR', error: { code: 'VEHICLE_NOT_CAPABLE', type: 'COMPATIBILITY' } } }],
      },
      triggers: [{ type: 'SIGNAL_UPDATED', signal: { name: 'StateOfCharge', group: 'TractionBattery', code: 'tractionbattery-stateofcharge' } }],
      meta: { version: '4.0', mode: 'LIVE', deliveredAt: 1761896351529 },
    });
    expect(event).toEqual({
      kind: 'state',
      eventId: 'e-1',
      mode: 'LIVE',
      vehicleId: 'v-1',
      userId: 'u-1',
      signals: [
        { code: 'tractionbattery-stateofcharge', body: { unit: 'percent', value: 75 }, status: 'SUCCESS', error: null, oemUpdatedAt: 1758668700000, retrievedAt: 1758668712404 },
        { code: 'location-isathome', body: null, status: 'ERROR', error: { type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' }, oemUpdatedAt: null, retrievedAt: null },
      ],
      triggers: ['tractionbattery-stateofcharge'],
      vehicle: { id: 'v-1', make: 'TESLA', model: 'Model 3', year: 2021 },
    });
  });

  test.each([
    ['4.0 live form', { triggers: [{ type: 'SIGNAL_UPDATED', signal: { code: 'odometer-traveleddistance' } }] }, ['odometer-traveleddistance']],
    ['documented code form', { triggers: [{ code: 'odometer-traveleddistance', name: 'TraveledDistance', group: 'Odometer' }] }, ['odometer-traveleddistance']],
    ['pre-4.0 string signal', { triggers: [{ type: 'SIGNAL_UPDATED', signal: 'Odometer.TraveledDistance' }] }, ['odometer-traveleddistance']],
    ['name and group only', { triggers: [{ signal: { name: 'TraveledDistance', group: 'Odometer' } }] }, ['odometer-traveleddistance']],
    ['first delivery, type form', { triggers: [{ type: 'FIRST_DELIVERY' }] }, ['FIRST_DELIVERY']],
    ['first delivery, code form under data', { data: { triggers: [{ code: 'FIRST_DELIVERY' }] } }, ['FIRST_DELIVERY']],
    ['none', {}, []],
  ])('triggers, %s', (_what, extra, codes) => {
    const base = { eventId: 'e', eventType: 'VEHICLE_STATE', data: { vehicle, signals: [] } };
    const merged = { ...base, ...extra, data: { ...base.data, ...(extra as { data?: object }).data } };
    const event = parseWebhookEvent(merged);
    expect(event.kind === 'state' && event.triggers).toEqual(codes);
  });

  test('pre-4.0 timestamps in seconds or ISO become epoch ms; TEST mode is told apart', () => {
    const event = parseWebhookEvent({
      eventId: 'e-2',
      eventType: 'VEHICLE_STATE',
      data: { vehicle, signals: [{ ...soc, meta: { oemUpdatedAt: '2025-09-23T23:05:00.000Z', retrievedAt: 1758668712 } }] },
      meta: { mode: 'test' },
    });
    expect(event).toMatchObject({ kind: 'state', mode: 'TEST', userId: null, signals: [{ oemUpdatedAt: 1758668700000, retrievedAt: 1758668712000 }] });
  });

  test('VEHICLE_ERROR: errors with their signals as objects or strings', () => {
    const event = parseWebhookEvent({
      eventId: 'e-3',
      eventType: 'VEHICLE_ERROR',
      data: {
        user: { id: 'u-1' },
        vehicle,
        errors: [
          { type: 'PERMISSION', code: null, description: 'insufficient permissions', resolution: { type: 'REAUTHENTICATE' }, state: 'ERROR', signals: [{ name: 'IsLocked', group: 'Closure', code: 'closure-islocked' }] },
          { type: 'VEHICLE_STATE', code: 'ASLEEP', state: 'RESOLVED', signals: ['Closure.IsLocked'] },
        ],
      },
    });
    expect(event).toEqual({
      kind: 'error',
      eventId: 'e-3',
      mode: 'LIVE',
      vehicleId: 'v-1',
      userId: 'u-1',
      errors: [
        { type: 'PERMISSION', code: null, description: 'insufficient permissions', resolution: 'REAUTHENTICATE', state: 'ERROR', signals: ['closure-islocked'] },
        { type: 'VEHICLE_STATE', code: 'ASLEEP', description: null, resolution: null, state: 'RESOLVED', signals: ['closure-islocked'] },
      ],
    });
  });

  test.each([
    ['4.0', { eventId: 'e', eventType: 'VERIFY', data: { challenge: 'abc' } }, { kind: 'verify', eventId: 'e', challenge: 'abc' }],
    ['legacy 2.0', { version: '2.0', webhookId: 'w', eventName: 'verify', payload: { challenge: 'abc' } }, { kind: 'verify', eventId: null, challenge: 'abc' }],
    ['an event type we do not act on', { eventId: 'e', eventType: 'VEHICLE_CONNECTION_STATUS', data: {} }, { kind: 'other', eventId: 'e', eventType: 'VEHICLE_CONNECTION_STATUS' }],
  ])('%s', (_what, body, expected) => {
    expect(parseWebhookEvent(body)).toEqual(expected);
  });

  test.each([
    ['not an object', [1, 2], 'the body is not a JSON object'],
    ['null', null, 'the body is not a JSON object'],
    ['no eventType', { eventId: 'e' }, 'no eventType'],
    ['VERIFY without a challenge', { eventType: 'VERIFY', data: {} }, 'VERIFY without a challenge'],
    ['legacy VERIFY without a challenge', { eventName: 'verify', payload: {} }, 'VERIFY without a challenge'],
    ['a state without an eventId', { eventType: 'VEHICLE_STATE', data: { vehicle } }, 'VEHICLE_STATE without an eventId'],
    ['a state without a vehicle', { eventId: 'e', eventType: 'VEHICLE_STATE', data: {} }, 'VEHICLE_STATE without data.vehicle.id'],
    ['an error without a vehicle', { eventId: 'e', eventType: 'VEHICLE_ERROR', data: { vehicle: { id: '' } } }, 'VEHICLE_ERROR without data.vehicle.id'],
  ])('refused: %s', (_what, body, message) => {
    expect(() => parseWebhookEvent(body)).toThrow(new WebhookPayloadError(message));
  });

  test('signals without a code, name or group are dropped; a status-less signal with a body is SUCCESS', () => {
    const event = parseWebhookEvent({ eventId: 'e', eventType: 'VEHICLE_STATE', data: { vehicle, signals: [{ body: { value: 1 } }, 'junk', { code: 'odometer-traveleddistance', body: { value: 12, unit: 'km' } }] } });
    expect(event).toMatchObject({ signals: [{ code: 'odometer-traveleddistance', status: 'SUCCESS', body: { value: 12, unit: 'km' } }] });
  });
});

import { UpstreamError } from '../../../src/errors';
import type { Reading } from '../../../src/vehicles/signal.registry';
import {
  answersFromV3,
  commandResultOf,
  connectionInfoOf,
  connectionsOf,
  epochMs,
  errorFromV3,
  nextPage,
  vehicleAttributesOf,
} from '../../../src/smartcar/v3.mapping';

/** Smartcar v3 answers as domain readings and failures, without I/O, with the variants of reference §11. */

const ok = (code: string, body: object, meta: object = { retrievedAt: 1752104218549, oemUpdatedAt: 1752104118549 }) => ({
  id: code,
  type: 'signal',
  attributes: { code, status: { value: 'SUCCESS' }, body },
  meta,
});
const failed = (code: string, error: object) => ({ id: code, type: 'signal', attributes: { code, status: { value: 'ERROR', error } } });

test.each([
  [1752104218549, 1752104218549],
  [1696156800, 1696156800000],
  ['2026-12-01T10:00:00.000Z', Date.parse('2026-12-01T10:00:00.000Z')],
  ['not a date', null],
  [0, null],
  [null, null],
  [-5, null],
])('epochMs(%j) = %j', (raw, expected) => {
  expect(epochMs(raw)).toBe(expected);
});

describe('signals', () => {
  const resources = [
    ok('odometer-traveleddistance', { unit: 'kilometers', value: 1000 }),
    ok('tractionbattery-stateofcharge', { unit: 'percent', value: 57 }, { retrievedAt: 1696156800, oemUpdatedAt: '2023-10-01T10:39:59.000Z' }),
    failed('tractionbattery-range', { type: 'VEHICLE_STATE', code: 'ASLEEP', resolution: { type: 'RETRY_LATER' } }),
    failed('internalcombustionengine-fuellevel', { type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' }),
    ok('wheel-tires', { unit: 'bar', values: [{ row: 0, column: 0, tirePressure: 2.5 }, { row: 0, column: 1, tirePressure: 2.75 }, { row: 1, column: 0, tirePressure: 2.25 }, { row: 1, column: 1, tirePressure: 2 }], rowCount: 2, columnCount: 2 }),
    { id: 'closure-islocked', attributes: { code: 'closure-islocked', status: { value: 'UNAVAILABLE' } } },
  ];
  const answers = answersFromV3(['odometer', 'battery', 'fuel', 'tirePressure', 'lockStatus', 'location', 'attributes'], resources, { make: 'TESLA', model: 'Model 3', year: '2020' }, 'metric', 'req-1');

  test('a reading: its body converted, its meta as dataAge and fetchedAt (ms, s or ISO)', () => {
    expect(answers.get('odometer')).toEqual({ values: { distance: 1000 }, dataAge: 1752104118549, fetchedAt: 1752104218549 });
    expect(answers.get('tirePressure')).toEqual({ values: { frontLeft: 250, frontRight: 275, backLeft: 225, backRight: 200 }, dataAge: 1752104118549, fetchedAt: 1752104218549 });
    expect(answers.get('attributes')).toEqual({ values: { make: 'TESLA', model: 'Model 3', year: 2020 }, dataAge: null, fetchedAt: null });
  });

  test('a signal of several codes with a value for some: the others are null', () => {
    expect(answers.get('battery')).toEqual({ values: { percentRemaining: 0.57, range: null }, dataAge: Date.parse('2023-10-01T10:39:59.000Z'), fetchedAt: 1696156800000 });
  });

  test('a signal whose codes all failed is the failure, as Smartcar would answer it alone', () => {
    const fuel = answers.get('fuel') as UpstreamError;
    expect(fuel).toBeInstanceOf(UpstreamError);
    expect([fuel.status, fuel.details]).toEqual([501, { type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE', requestId: 'req-1', resolution: null, suggestedUserMessage: null, retryAfter: null }]);
  });

  test('no value yet (missing from the list, or UNAVAILABLE): a failure without a Smartcar type', () => {
    for (const name of ['lockStatus', 'location'] as const) {
      const e = answers.get(name) as UpstreamError;
      expect([e.kind, e.status, e.details.type, e.details.requestId]).toEqual(['response', null, null, 'req-1']);
    }
    const none = answersFromV3(['attributes'], [], null, 'metric', null).get('attributes') as UpstreamError;
    expect(none).toBeInstanceOf(UpstreamError);
  });

  test('imperial: converted from the unit the body names', () => {
    const imperial = answersFromV3(['odometer'], [ok('odometer-traveleddistance', { unit: 'km', value: 1.609344 })], null, 'imperial', null);
    expect((imperial.get('odometer') as Reading).values.distance).toBeCloseTo(1, 9);
  });
});

test.each([
  ['the envelope', 409, { errors: [{ status: '409', type: 'VEHICLE_STATE', code: 'ASLEEP', resolution: { type: 'RETRY_LATER' }, suggestedUserMessage: 'Wake it', meta: { debug: { requestId: 'dbg' } } }] }, {}, { type: 'VEHICLE_STATE', code: 'ASLEEP', requestId: 'dbg', resolution: 'RETRY_LATER', suggestedUserMessage: 'Wake it', retryAfter: null }],
  ['retry-after and the header request id', 429, { errors: [{ type: 'RATE_LIMIT', code: 'VEHICLE' }] }, { 'retry-after': '60', 'sc-request-id': 'hdr' }, { type: 'RATE_LIMIT', code: 'VEHICLE', requestId: 'hdr', resolution: null, suggestedUserMessage: null, retryAfter: 60 }],
  ['the token endpoint', 401, { error: 'invalid_client', error_description: 'bad' }, {}, { type: 'invalid_client', code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null }],
  ['an HTML page', 503, null, {}, { type: null, code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null }],
])('errorFromV3: %s', (_what, status, body, headers, details) => {
  const e = errorFromV3(status, body, headers);
  expect([e.kind, e.status, e.details]).toEqual(['response', status, details]);
});

test.each([
  ['links.next null ends', { links: { next: null }, meta: { totalCount: 50, pageSize: 10 } }, 1, null],
  ['links.next, flat and root-relative', { links: { next: '/vehicles/v/signals?page=2&pageSize=10' } }, 1, 2],
  ['links.next, JSON:API and absolute with /v3', { links: { next: 'https://x/v3/connections?page[number]=3&page[size]=10' } }, 2, 3],
  ['links.next that goes back ends', { links: { next: '/x?page=1' } }, 1, null],
  ['meta: page × pageSize ≥ totalCount ends', { meta: { totalCount: 20, pageSize: 10 } }, 2, null],
  ['meta: more to come', { meta: { totalCount: 21, pageSize: 10 } }, 2, 3],
  ['neither: a short page ends', { data: [1, 2] }, 1, null],
  ['neither: a full page goes on', { data: Array.from({ length: 100 }) }, 1, 2],
])('nextPage: %s', (_what, body, page, expected) => {
  expect(nextPage(body, page, 100)).toBe(expected);
});

test('the vehicle resource with or without its data wrapper', () => {
  expect(vehicleAttributesOf({ data: { id: 'v', attributes: { make: 'A' } } })).toEqual({ make: 'A' });
  expect(vehicleAttributesOf({ id: 'v', attributes: { make: 'B' } })).toEqual({ make: 'B' });
  expect(vehicleAttributesOf({ errors: [] })).toBeNull();
});

test('connections: the user, vehicles and permissions; one showing another external id does not count', () => {
  const resource = (id: string, vehicleId: string, externalId: unknown, permissions: string[]) => ({
    id,
    type: 'connection',
    attributes: { permissions, ...(externalId !== undefined && { user: { externalId } }) },
    relationships: { vehicle: { data: { id: vehicleId } }, user: { data: { id: 'u1' } } },
  });
  const list = connectionsOf({ data: [resource('c1', 'v1', 'x', ['read_odometer']), resource('c2', 'v2', undefined, ['read_vin']), resource('c3', 'v3', 'y', ['read_fuel']), resource('c4', 'v4', null, []), { id: 'broken' }] });
  expect(list.map((c) => [c.id, c.externalId])).toEqual([['c1', 'x'], ['c2', undefined], ['c3', 'y'], ['c4', null]]);
  expect(connectionInfoOf('u1', list, 'x')).toEqual({ userId: 'u1', vehicleIds: ['v1', 'v2'], permissions: ['read_odometer', 'read_vin'] });
  expect(connectionInfoOf('u1', list)).toEqual({ userId: 'u1', vehicleIds: ['v1', 'v2', 'v3', 'v4'], permissions: ['read_odometer', 'read_vin', 'read_fuel'] });
  expect(connectionInfoOf('u2', list, 'x').vehicleIds).toEqual([]);
});

test('commands: 200 SUCCESS, 202 PENDING (whatever the body), 200 ERROR thrown', () => {
  expect(commandResultOf(200, { data: { id: 'e1', attributes: { status: { value: 'SUCCESS' } } } }, null)).toEqual({ status: 'success', message: null });
  expect(commandResultOf(202, { data: { id: 'exec_1', attributes: { status: { value: 'PENDING' } } } }, null)).toEqual({ status: 'PENDING', message: 'Smartcar is carrying out the command (execution exec_1).' });
  expect(commandResultOf(202, null, null).status).toBe('PENDING');
  expect(() => commandResultOf(200, { data: { attributes: { status: { value: 'ERROR', error: { type: 'VEHICLE_STATE', code: 'DOOR_OPEN' } } } } }, 'r')).toThrow(
    expect.objectContaining({ status: 409, details: expect.objectContaining({ type: 'VEHICLE_STATE', code: 'DOOR_OPEN', requestId: 'r' }) }),
  );
});

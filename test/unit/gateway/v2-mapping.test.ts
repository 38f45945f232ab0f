import { UpstreamError } from '../../../src/errors';
import { answersFromBatch, itemError, normalizeSdkError, readingFromV2, time, valuesFromV2, v2Path } from '../../../src/smartcar/v2.mapping';

/** Smartcar v2 answers as domain readings, without the SDK. */

test.each([
  ['odometer', { distance: 1234.5 }, { distance: 1234.5 }],
  ['odometer', {}, { distance: null }],
  ['odometer', { distance: '12' }, { distance: null }],
  ['odometer', null, { distance: null }],
  ['location', { latitude: 37.4, longitude: -122.1, extra: 1 }, { latitude: 37.4, longitude: -122.1 }],
  ['battery', { percentRemaining: 0.5, range: 200 }, { percentRemaining: 0.5, range: 200 }],
  ['fuel', { percentRemaining: 0.2, range: 90, amountRemaining: 10 }, { percentRemaining: 0.2, range: 90, amountRemaining: 10 }],
  ['charge', { isPluggedIn: true, state: 'CHARGING' }, { isPluggedIn: true, state: 'CHARGING' }],
  ['charge', { isPluggedIn: 'yes', state: 3 }, { isPluggedIn: null, state: null }],
  ['engineOil', { lifeRemaining: 0.8 }, { lifeRemaining: 0.8 }],
  ['tirePressure', { frontLeft: 230, frontRight: 231, backLeft: 232, backRight: Number.NaN }, { frontLeft: 230, frontRight: 231, backLeft: 232, backRight: null }],
  ['lockStatus', { isLocked: false, doors: [] }, { isLocked: false }],
  ['attributes', { id: 'v', make: 'TESLA', model: 'Model 3', year: 2020 }, { make: 'TESLA', model: 'Model 3', year: 2020 }],
  ['vin', { vin: '5YJ3E1EA7HF000316' }, { vin: '5YJ3E1EA7HF000316' }],
] as const)('%s: %j → %j', (name, body, values) => {
  expect(valuesFromV2(name, body)).toEqual(values);
});

test.each([
  [new Date(1_700_000_000_000), 1_700_000_000_000],
  ['2023-11-14T22:13:20.000Z', 1_700_000_000_000],
  ['not a date', null],
  [undefined, null],
  [1_700_000_000_000, null],
])('time(%p) = %p', (v, expected) => {
  expect(time(v)).toBe(expected);
});

test('a reading keeps the metadata as epoch ms', () => {
  expect(readingFromV2('odometer', { distance: 5 }, new Date(1000), '1970-01-01T00:00:02.000Z')).toEqual({ values: { distance: 5 }, dataAge: 1000, fetchedAt: 2000 });
});

test.each([
  ['attributes', '/'],
  ['engineOil', '/engine/oil'],
  ['tirePressure', '/tires/pressure'],
  ['lockStatus', '/security'],
] as const)('the v2 path of %s is %s', (name, path) => {
  expect(v2Path(name)).toBe(path);
});

describe('a batch answer', () => {
  const body = {
    responses: [
      { path: '/odometer', code: 200, body: { distance: 10 }, headers: { 'SC-Data-Age': '2023-11-14T22:13:20.000Z', 'sc-fetched-at': '2023-11-14T22:13:21.000Z' } },
      { path: '/battery', code: 409, body: { type: 'VEHICLE_STATE', code: 'ASLEEP', resolution: { type: 'RETRY_LATER' }, suggestedUserMessage: 'Wake it' }, headers: { 'Retry-After': '2.2' } },
      { path: '/security', code: 204 },
      { path: '/fuel', code: 200, body: { percentRemaining: 0.5 } }, // not asked
      { path: '/nowhere', code: 200, body: {} },
    ],
  };
  const answers = answersFromBatch(['odometer', 'battery', 'lockStatus', 'location'], body, 'outer-id');

  test('each signal asked, and only those', () => {
    expect([...answers.keys()]).toEqual(['odometer', 'battery', 'lockStatus', 'location']);
  });
  test('a 200 item is its reading, with the item’s headers as metadata; a 204 is a reading of nulls', () => {
    expect(answers.get('odometer')).toEqual({ values: { distance: 10 }, dataAge: 1_700_000_000_000, fetchedAt: 1_700_000_001_000 });
    expect(answers.get('lockStatus')).toEqual({ values: { isLocked: null }, dataAge: null, fetchedAt: null });
  });
  test('a failed item is its own error (status, type, code, resolution, retry-after), with the batch’s request id', () => {
    const e = answers.get('battery') as UpstreamError;
    expect(e).toBeInstanceOf(UpstreamError);
    expect([e.kind, e.status]).toEqual(['response', 409]);
    expect(e.details).toEqual({ type: 'VEHICLE_STATE', code: 'ASLEEP', requestId: 'outer-id', resolution: 'RETRY_LATER', suggestedUserMessage: 'Wake it', retryAfter: 3 });
  });
  test('a signal left out of the answer is a 502 MISSING_ITEM', () => {
    const e = answers.get('location') as UpstreamError;
    expect([e.status, e.details.type, e.details.code]).toEqual([502, 'UPSTREAM', 'MISSING_ITEM']);
  });
  test('an answer that is not a batch leaves every signal missing', () => {
    for (const b of [null, {}, { responses: 'no' }, { responses: [null, 3] }]) {
      const a = answersFromBatch(['odometer', 'vin'], b, null);
      expect([...a.values()].map((e) => (e as UpstreamError).details.code)).toEqual(['MISSING_ITEM', 'MISSING_ITEM']);
    }
  });
});

test.each([
  [{ error: 'rate_limited', requestId: 'inner' }, { 'sc-request-id': 'h' }, { type: 'rate_limited', requestId: 'inner', resolution: null, retryAfter: null }],
  [{ type: 'RATE_LIMIT', resolution: 'RETRY_LATER', retryAfter: 5 }, { 'SC-Request-Id': 'h' }, { type: 'RATE_LIMIT', requestId: 'h', resolution: 'RETRY_LATER', retryAfter: 5 }],
  ['not an object', undefined, { type: null, requestId: 'outer', resolution: null, retryAfter: null }],
])('itemError(%j, %j)', (body, headers, expected) => {
  expect(itemError(429, body, headers, 'outer').details).toMatchObject(expected);
});

const sdkError = (fields: Record<string, unknown>) => Object.assign(new Error('x'), { name: 'SmartcarError', ...fields });
test.each<[string, unknown, { kind: string; status: number | null; details: Record<string, unknown> }]>([
  [
    'a SmartcarError with everything',
    sdkError({ statusCode: 409, type: 'VEHICLE_STATE', code: 'ASLEEP', requestId: 'r1', resolution: { type: 'RETRY_LATER' }, suggestedUserMessage: 'Wake it', retryAfter: '1.5' }),
    { kind: 'response', status: 409, details: { type: 'VEHICLE_STATE', code: 'ASLEEP', requestId: 'r1', resolution: 'RETRY_LATER', suggestedUserMessage: 'Wake it', retryAfter: 2 } },
  ],
  ['a SmartcarError with nothing but a status', sdkError({ statusCode: 500 }), { kind: 'response', status: 500, details: { type: null, code: null, requestId: null, resolution: null, retryAfter: null } }],
  ['the SDK’s own timeout (408 with no type)', sdkError({ statusCode: 408 }), { kind: 'timeout', status: 408, details: { type: null } }],
  ['a 408 Smartcar typed', sdkError({ statusCode: 408, type: 'UPSTREAM' }), { kind: 'response', status: 408, details: { type: 'UPSTREAM' } }],
  ['a negative retry-after', sdkError({ statusCode: 429, type: 'RATE_LIMIT', retryAfter: '-1' }), { kind: 'response', status: 429, details: { retryAfter: null } }],
  ['our deadline', Object.assign(new Error('late'), { name: 'TimeoutError' }), { kind: 'timeout', status: null, details: { type: null } }],
  ['an abort', Object.assign(new Error('aborted'), { name: 'AbortError' }), { kind: 'timeout', status: null, details: { type: null } }],
  ['a refused connection', new TypeError('fetch failed'), { kind: 'network', status: null, details: { type: null } }],
])('normalizeSdkError: %s', (_what, err, expected) => {
  const e = normalizeSdkError(err);
  expect(e).toBeInstanceOf(UpstreamError);
  expect({ kind: e.kind, status: e.status }).toEqual({ kind: expected.kind, status: expected.status });
  expect(e.details).toMatchObject(expected.details);
  expect(e.cause).toBe(err);
});

test.each([new TypeError('x is not a function'), new RangeError('bad'), null, 'text'])('normalizeSdkError rethrows a programming error unchanged: %p', (err) => {
  expect(() => normalizeSdkError(err)).toThrow();
  try {
    normalizeSdkError(err);
  } catch (thrown) {
    expect(thrown).toBe(err);
  }
});

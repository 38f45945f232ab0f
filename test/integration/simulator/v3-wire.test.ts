import { clientCredentialsOf } from '../../../src/simulator/v3/app.tokens';
import { externalIdOf } from '../../../src/simulator/v3/connect';
import { pageOf, paged } from '../../../src/simulator/v3/context';
import { docUrl, V3Error } from '../../../src/simulator/v3/errors';
import { checkV3Setting } from '../../../src/simulator/v3/settings';
import type { SignalResource } from '../../../src/simulator/v3/signals';
import { errorChanges, errorGroups, valuesOf } from '../../../src/simulator/v3/webhook.payloads';

/** The pure pieces of the simulator's API v3, table by table (no server). */

test.each([
  [undefined, undefined],
  ['user-42', 'user-42'],
  ['null', null],
  ['', undefined],
  ['x'.repeat(255), 'x'.repeat(255)],
  ['x'.repeat(256), undefined],
  ['tab\there', undefined],
])('external_id %j → %j', (raw, expected) => {
  expect(externalIdOf(raw === undefined ? {} : { external_id: raw })).toBe(expected);
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
test.each([
  [`Basic ${b64('client_a:s3cret')}`, {}, { id: 'client_a', secret: 's3cret' }],
  [`Basic ${b64('client_a:with:colon')}`, {}, { id: 'client_a', secret: 'with:colon' }],
  [`basic ${b64('client%5Fa:s%3A')}`, {}, { id: 'client_a', secret: 's:' }],
  [`Basic ${b64('no-colon')}`, { client_id: 'ignored' }, {}],
  [undefined, { client_id: 'client_b', client_secret: 'x' }, { id: 'client_b', secret: 'x' }],
  [undefined, { client_id: 5 }, { id: undefined, secret: undefined }],
])('client credentials from %j and %j', (authorization, body, expected) => {
  expect(clientCredentialsOf(authorization, body)).toEqual(expected);
});

test.each([
  [{}, { page: 1, size: 10 }],
  [{ page: '2', pageSize: '5' }, { page: 2, size: 5 }],
  [{ 'page[number]': '3', 'page[size]': '100' }, { page: 3, size: 100 }],
  [{ page: '0' }, 'VALIDATION'],
  [{ pageSize: '101' }, 'VALIDATION'],
  [{ pageSize: '2.5' }, 'VALIDATION'],
])('paging %j', (q, expected) => {
  if (typeof expected === 'string') expect(() => pageOf(q)).toThrow(V3Error);
  else expect(pageOf(q)).toEqual(expected);
});

test('paged: meta and links, the last page has no next, an empty list has one page', () => {
  const items = Array.from({ length: 25 }, (_, i) => i);
  expect(paged(items, { page: 3, size: 10 }, '/x', 'flat')).toEqual({
    data: [20, 21, 22, 23, 24],
    meta: { page: 3, pageSize: 10, totalCount: 25 },
    links: { self: '/x?page=3&pageSize=10', first: '/x?page=1&pageSize=10', previous: '/x?page=2&pageSize=10', next: null, last: '/x?page=3&pageSize=10' },
  });
  expect(paged([], { page: 1, size: 10 }, '/c', 'jsonapi').links).toEqual({ self: '/c?page[number]=1&page[size]=10', first: '/c?page[number]=1&page[size]=10', previous: null, next: null, last: '/c?page[number]=1&page[size]=10' });
});

test.each([
  ['VEHICLE_STATE', 'ASLEEP', 'https://smartcar.com/docs/errors/api-errors/vehicle-state-errors#asleep'],
  ['COMPATIBILITY', 'VEHICLE_NOT_CAPABLE', 'https://smartcar.com/docs/errors/api-errors/compatibility-errors#vehicle-not-capable'],
  ['PERMISSION', null, 'https://smartcar.com/docs/errors/api-errors/permission-errors#null'],
])('docURL of %s %s', (type, code, url) => {
  expect(docUrl(type, code)).toBe(url);
});

test.each([
  ['webhookUrl', 'https://hooks.example/sc', true],
  ['webhookUrl', null, true],
  ['webhookUrl', 'ftp://x', false],
  ['webhookUrl', 'not a url', false],
  ['webhookFault', 'reorder', true],
  ['webhookFault', 'sometimes', false],
  ['webhookRetryScale', 0.001, true],
  ['commandDurationMs', -1, false],
  ['appTokenTtlSec', '3600', false],
  ['latencyMs', 5, undefined],
])('setting %s = %j → %j', (k, v, expected) => {
  expect(checkV3Setting(k, v)).toBe(expected);
});

const signal = (code: string, status: SignalResource['attributes']['status'], body?: object): SignalResource => ({
  id: code,
  type: 'signal',
  attributes: { code, name: code.split('-')[1]!, group: code.split('-')[0]!, status, ...(body && { body }) },
  links: { self: '', vehicle: '' },
});
const asleep = { value: 'ERROR' as const, error: { type: 'VEHICLE_STATE', code: 'ASLEEP', description: 'zzz', resolution: { type: 'RETRY_LATER' as const } } };

test('errorGroups: one group per (type, code) with the signals it hits; successes are ignored', () => {
  const groups = errorGroups([signal('odometer-traveleddistance', asleep), signal('closure-islocked', { value: 'SUCCESS' }, { value: true }), signal('location-preciselocation', asleep)]);
  expect([...groups.keys()]).toEqual(['VEHICLE_STATE:ASLEEP']);
  expect(groups.get('VEHICLE_STATE:ASLEEP')!.signals.map((s) => s.code)).toEqual(['odometer-traveleddistance', 'location-preciselocation']);
});

test('valuesOf: a change is judged on status and body, never on the timestamps', () => {
  const a = { ...signal('closure-islocked', { value: 'SUCCESS' }, { value: true }), meta: { retrievedAt: 1, oemUpdatedAt: 1 } };
  const later = { ...a, meta: { retrievedAt: 2, oemUpdatedAt: 2 } };
  const unlocked = { ...signal('closure-islocked', { value: 'SUCCESS' }, { value: false }), meta: a.meta };
  expect(valuesOf([a]).get('closure-islocked')).toBe(valuesOf([later]).get('closure-islocked'));
  expect(valuesOf([a]).get('closure-islocked')).not.toBe(valuesOf([unlocked]).get('closure-islocked'));
});

test('errorChanges: new groups are ERROR, gone ones RESOLVED, unchanged ones not repeated', () => {
  const asleepNow = errorGroups([signal('odometer-traveleddistance', asleep)]);
  const none = errorGroups([signal('odometer-traveleddistance', { value: 'SUCCESS' }, { value: 1 })]);
  expect(errorChanges(new Map(), asleepNow).map((e) => [e.code, e.state, e.docURL])).toEqual([['ASLEEP', 'ERROR', 'https://smartcar.com/docs/errors/api-errors/vehicle-state-errors#asleep']]);
  expect(errorChanges(asleepNow, asleepNow)).toEqual([]);
  expect(errorChanges(asleepNow, none).map((e) => [e.code, e.state, e.signals.map((s) => s.code)])).toEqual([['ASLEEP', 'RESOLVED', ['odometer-traveleddistance']]]);
});

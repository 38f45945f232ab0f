import { compatibilityByVin, compatibilityMatrix } from '../../../src/simulator/compatibility';
import { catalogueError, parseErrorRef } from '../../../src/simulator/error.catalogue';
import { ApiError, docUrlOf } from '../../../src/simulator/errors';
import { capableOf } from '../../../src/simulator/permissions';
import { serviceRange } from '../../../src/simulator/readings.more';
import { smartcarTestAccount, userFor } from '../../../src/simulator/world';

/** The pure pieces of the simulator's v2 conventions, as tables. */

test.each([
  ['VEHICLE_STATE', 'CHARGING_PLUG_NOT_CONNECTED', 'https://smartcar.com/docs/errors/api-errors/vehicle-state-errors#charging-plug-not-connected'],
  ['PERMISSION', null, 'https://smartcar.com/docs/errors/api-errors/permission-errors#null'],
  ['CONNECTED_SERVICES_ACCOUNT', 'AUTHENTICATION_FAILED', 'https://smartcar.com/docs/errors/api-errors/connected-services-account-errors#authentication-failed'],
  ['RESOURCE_NOT_FOUND', 'PATH', 'https://smartcar.com/docs/errors/api-errors/resource-not-found-errors#path'],
])('docURL of %s %s', (type, code, url) => {
  expect(docUrlOf(type, code)).toBe(url);
});

test.each([
  ['vehicle_state.asleep', { type: 'VEHICLE_STATE', code: 'ASLEEP' }],
  ['RATE_LIMIT.VEHICLE', { type: 'RATE_LIMIT', code: 'VEHICLE' }],
  ['permission.null', { type: 'PERMISSION', code: null }],
  ['vehicle_state.sunny', null],
  ['nothing', null],
  ['3-vehicles', null],
])('error account %s', (local, ref) => {
  expect(parseErrorRef(local)).toEqual(ref);
});

test('catalogue errors carry Smartcar status, resolution and retry-after', () => {
  const limited = catalogueError({ type: 'RATE_LIMIT', code: 'VEHICLE' }, 30);
  expect(limited).toBeInstanceOf(ApiError);
  expect([limited.status, limited.headers()]).toEqual([429, { 'retry-after': '30' }]);
  const reauth = catalogueError({ type: 'CONNECTED_SERVICES_ACCOUNT', code: 'AUTHENTICATION_FAILED' }, 30);
  expect([reauth.status, reauth.resolution, reauth.headers()]).toEqual([400, 'REAUTHENTICATE', {}]);
  expect(catalogueError({ type: 'BILLING', code: 'VEHICLE_LIMIT' }, 30).status).toBe(430);
});

test.each([
  ['2-vehicles@smartcar.com', 2, null],
  ['999-vehicles@smartcar.com', 999, null],
  ['0-vehicles@smartcar.com', null, null],
  ['1scabcdefghjk1234@bev.smartcar.com', 1, 'BEV'],
  ['1scabcdefghjk1234@fuel.smartcar.com', 1, 'ICE'],
  ['1scabcdefghjk1234@compatible.smartcar.com', 1, 'PHEV'],
  ['1scabcdefghjk1234@moon.smartcar.com', null, null],
  ['short@bev.smartcar.com', null, null],
  ['someone@example.com', null, null],
])('test account %s', (username, cars, powertrain) => {
  const account = smartcarTestAccount(username, 'id');
  expect(account?.vehicles.length ?? null).toBe(cars);
  if (powertrain) expect(account!.vehicles[0]!.powertrain).toBe(powertrain);
});

test('test accounts: the VIN is the email’s; incompatible and error cars are marked; the same email is the same car', () => {
  expect(userFor('1SCABCDEFGHJK1234@bev.smartcar.com').vehicles[0]!.vin).toBe('1SCABCDEFGHJK1234');
  expect(userFor('1scabcdefghjk1234@incompatible.smartcar.com').vehicles[0]!.compatible).toBe(false);
  expect(userFor('Vehicle_State.Asleep@smartcar.com').vehicles[0]!.testError).toEqual({ type: 'VEHICLE_STATE', code: 'ASLEEP' });
  expect(userFor('smartcar@invalid-subscription.com').subscriptionInactive).toBe(true);
  expect(userFor('4-vehicles@smartcar.com')).toEqual(userFor('4-vehicles@smartcar.com'));
});

test.each([
  ['ICE', 'read_fuel', true],
  ['ICE', 'control_charge', false],
  ['BEV', 'read_engine_oil', false],
  ['BEV', 'read_battery', true],
  ['PHEV', 'read_fuel', true],
  ['PHEV', 'control_charge', true],
] as const)('a %s car serves %s: %s', (powertrain, permission, capable) => {
  expect(capableOf(powertrain, permission)).toBe(capable);
});

const NOW = Date.UTC(2026, 5, 1);
test.each([
  [undefined, undefined, { start: NOW - 365 * 86_400_000, end: NOW }],
  ['undefined', 'undefined', { start: NOW - 365 * 86_400_000, end: NOW }],
  ['2024-01-01', '2024-02-01T12:00:00.000Z', { start: Date.UTC(2024, 0, 1), end: Date.UTC(2024, 1, 1, 12) }],
  ['01/01/2024', undefined, /start_date/],
  ['2024-01-01', '2024-13-45', /end_date/],
  ['2024-02-01', '2024-01-01', /before/],
])('service history range %s … %s', (start, end, expected) => {
  const range = serviceRange(start, end, NOW);
  if (expected instanceof RegExp) expect(range).toMatch(expected);
  else expect(range).toEqual(expected);
});

test('compatibility by VIN and the matrix', () => {
  expect(compatibilityByVin({ vin: '1FTABCDEFGHJK1234', scope: 'read_fuel read_battery' })).toEqual({
    compatible: true,
    reason: null,
    capabilities: [
      { capable: true, endpoint: '/fuel', permission: 'read_fuel', reason: null },
      { capable: false, endpoint: '/battery', permission: 'read_battery', reason: 'VEHICLE_NOT_CAPABLE' },
      { capable: false, endpoint: '/battery/capacity', permission: 'read_battery', reason: 'VEHICLE_NOT_CAPABLE' },
      { capable: false, endpoint: '/battery/nominal_capacity', permission: 'read_battery', reason: 'VEHICLE_NOT_CAPABLE' },
    ],
  });
  expect(compatibilityByVin({ vin: '1FTABCDEFGHJK1234', scope: 'read_fuel', country: 'DE' })).toMatchObject({ compatible: false, reason: 'MAKE_NOT_COMPATIBLE' });
  expect(() => compatibilityByVin({ vin: '1FTABCDEFGHJK1234', scope: 'read_mind' })).toThrow(ApiError);
  expect(Object.keys(compatibilityMatrix({ region: 'US', type: 'PHEV' })).sort()).toEqual(['TOYOTA', 'VOLVO']);
  expect(compatibilityMatrix({ region: 'US', make: 'HONDA', scope: 'read_battery' })).toEqual({});
});

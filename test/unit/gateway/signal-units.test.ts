import { SIGNALS } from '../../../src/vehicles/signal.registry';
import { distanceIn, fraction, pressureIn, v3Distance, v3Member, v3Percent, v3Tire, v3Volume, volumeIn, type UnitSystem, type V3Convert } from '../../../src/vehicles/signal.units';

/** The conversions of v3 bodies into the domain's values (fractions, the configured unit system). */

const close = (v: number | null, expected: number | null) => {
  if (expected === null) expect(v).toBeNull();
  else expect(v).toBeCloseTo(expected, 6);
};

test.each([
  [10, 'km', 'metric', 10],
  [10, 'kilometers', 'metric', 10],
  [10, 'KM', 'metric', 10],
  [10, null, 'metric', 10],
  [10, 'miles', 'metric', 16.09344],
  [10, 'mi', 'imperial', 10],
  [16.09344, 'kilometers', 'imperial', 10],
  [10, 'furlongs', 'metric', null],
] as const)('distance %s %s in %s: %s', (value, unit, units, expected) => {
  close(distanceIn(value, unit === null ? null : unit.toLowerCase(), units), expected);
});

test.each([
  [45.5, 'liters', 'metric', 45.5],
  [45.5, null, 'metric', 45.5],
  [1, 'gallons', 'metric', 3.785411784],
  [3.785411784, 'l', 'imperial', 1],
  [2, 'gal', 'imperial', 2],
  [2, 'cups', 'metric', null],
] as const)('volume %s %s in %s: %s', (value, unit, units, expected) => {
  close(volumeIn(value, unit, units), expected);
});

test.each([
  [250, 'kpa', 'metric', 250],
  [2.5, 'bar', 'metric', 250],
  [258, 'bar', 'metric', 258], // kPa mislabelled bar, as Smartcar's fixtures show
  [36, 'psi', 'metric', 248.2112625540],
  [250, null, 'imperial', 36.2594344],
  [36, 'psi', 'imperial', 36],
  [1, 'atm', 'metric', null],
] as const)('pressure %s %s in %s: %s', (value, unit, units, expected) => {
  close(pressureIn(value, unit, units), expected);
});

test.each([
  [75, 'percent', 0.75],
  [75, 'percentage', 0.75],
  [100, '%', 1],
  [0.77, null, 0.77], // an old fixture's bare fraction
  [77, null, 0.77],
  [1, null, 1],
  [50, 'volts', null],
] as const)('fraction of %s %s: %s', (value, unit, expected) => {
  close(fraction(value, unit), expected);
});

test.each<[string, V3Convert, Record<string, unknown>, UnitSystem, number | null]>([
  ['percent', v3Percent, { unit: 'percent', value: 75 }, 'metric', 0.75],
  ['percent, not a number', v3Percent, { unit: 'percent', value: '75' }, 'metric', null],
  ['distance', v3Distance, { unit: 'kilometers', value: 450 }, 'metric', 450],
  ['distance, imperial', v3Distance, { unit: 'km', value: 16.09344 }, 'imperial', 10],
  ['distance, no value', v3Distance, { unit: 'km' }, 'metric', null],
  ['volume', v3Volume, { unit: 'liters', value: 45.5 }, 'metric', 45.5],
  ['member', v3Member('latitude'), { latitude: 37.4, longitude: -122 }, 'metric', 37.4],
  ['member, missing', v3Member('heading'), { latitude: 37.4 }, 'metric', null],
])('v3 %s', (_what, convert, body, units, expected) => {
  const v = convert(body, units);
  if (expected === null) expect(v).toBeNull();
  else expect(v as number).toBeCloseTo(expected, 6);
});

const tires = { values: [{ row: 0, column: 0, tirePressure: 250 }, { row: 0, column: 1, tirePressure: 251 }, { row: 1, column: 0, tirePressure: 2.4 }, { row: 1, column: 1, tirePressure: 'x' }], unit: 'bar', rowCount: 2, columnCount: 2 };
test.each([
  [0, 0, 250],
  [0, 1, 251],
  [1, 0, 240],
  [1, 1, null],
  [2, 0, null],
])('tyre row %i column %i: %s kPa', (row, column, expected) => {
  close(v3Tire(row, column)(tires, 'metric') as number | null, expected);
});
test('tyres with no values, or a unit per tyre', () => {
  expect(v3Tire(0, 0)({}, 'metric')).toBeNull();
  close(v3Tire(0, 0)({ values: [{ row: 0, column: 0, tirePressure: 36, unit: 'psi' }], unit: 'kPa' }, 'imperial') as number, 36);
});

/** The reference's v3 bodies (§3.5) through the registry: the values v2 would have given. */
const field = (name: keyof typeof SIGNALS, f: string) => (SIGNALS[name].fields as Record<string, { v3: { code?: string; convert?: V3Convert; vehicle?: (a: Record<string, unknown>) => unknown } }>)[f]!.v3;
test.each<[keyof typeof SIGNALS, string, Record<string, unknown>, unknown]>([
  ['vin', 'vin', { value: 'SADHA2A10M1610715' }, 'SADHA2A10M1610715'],
  ['odometer', 'distance', { unit: 'kilometers', value: 50000 }, 50000],
  ['battery', 'percentRemaining', { unit: 'percent', value: 75 }, 0.75],
  ['battery', 'range', { value: 290, type: 'DEFAULT', additionalValues: [], unit: 'km' }, 290],
  ['fuel', 'amountRemaining', { unit: 'liters', value: 45.5 }, 45.5],
  ['charge', 'isPluggedIn', { value: true }, true],
  ['charge', 'state', { value: 'CHARGING' }, 'CHARGING'],
  ['engineOil', 'lifeRemaining', { unit: 'percent', value: 85 }, 0.85],
  ['tirePressure', 'backLeft', tires, 240],
  ['lockStatus', 'isLocked', { value: false }, false],
])('registry v3 %s.%s', (name, f, body, expected) => {
  expect(field(name, f).convert!(body, 'metric')).toEqual(expected);
});
test.each([
  [{ make: 'TESLA', model: 'Model 3', year: 2020 }, ['TESLA', 'Model 3', 2020]],
  [{ make: 'TESLA', model: 'Model 3', year: '2020' }, ['TESLA', 'Model 3', 2020]],
  [{ make: 1, year: 'soon' }, [null, null, null]],
])('registry v3 attributes from the vehicle resource %j', (attributes, expected) => {
  expect(['make', 'model', 'year'].map((f) => field('attributes', f).vehicle!(attributes))).toEqual(expected);
});

/**
 * Values of the domain and their units. Numbers follow the configured unit system (km, L, kPa or mi,
 * gal, psi); percentages are fractions 0..1, as Smartcar's v2 sends them. The conversions read v3's
 * signal bodies (`{unit, value}`, percentages 0-100, unit spellings that disagree between Smartcar's
 * own pages): a unit they do not know gives null, never a number in the wrong unit.
 */

export type UnitSystem = 'metric' | 'imperial';

export type Value = number | boolean | string;

/** The `body` of one v3 signal resource. */
export type V3Body = Readonly<Record<string, unknown>>;

/** One field's value from a v3 signal body, in the configured unit system. */
export type V3Convert = (body: V3Body, units: UnitSystem) => Value | null;

const KM_PER_MILE = 1.609344;
const LITRES_PER_GALLON = 3.785411784; // US gallon
const KPA_PER_PSI = 6.894757293168;
const KPA_PER_BAR = 100;
/** Tyre pressures above this many "bar" are kPa mislabelled (Smartcar fixtures show `bar` with 258). */
const MAX_PLAUSIBLE_BAR = 20;

export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
export const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);
export const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

const unitOf = (body: V3Body): string | null => (typeof body.unit === 'string' ? body.unit.toLowerCase() : null);

const DISTANCE: Record<string, 'km' | 'mi'> = { km: 'km', kilometer: 'km', kilometers: 'km', kilometres: 'km', mi: 'mi', mile: 'mi', miles: 'mi' };
const VOLUME: Record<string, 'l' | 'gal'> = { l: 'l', liter: 'l', liters: 'l', litre: 'l', litres: 'l', gal: 'gal', gallon: 'gal', gallons: 'gal' };
const PRESSURE: Record<string, 'kpa' | 'bar' | 'psi'> = { kpa: 'kpa', kilopascal: 'kpa', kilopascals: 'kpa', bar: 'bar', psi: 'psi' };
const PERCENT = new Set(['percent', 'percentage', '%']);

/** `value` in `unit` (or metric when the body names none), in the unit system's unit. */
export function distanceIn(value: number, unit: string | null, units: UnitSystem): number | null {
  const from = unit === null ? 'km' : DISTANCE[unit];
  if (!from) return null;
  const km = from === 'km' ? value : value * KM_PER_MILE;
  return units === 'metric' ? km : km / KM_PER_MILE;
}

export function volumeIn(value: number, unit: string | null, units: UnitSystem): number | null {
  const from = unit === null ? 'l' : VOLUME[unit];
  if (!from) return null;
  const litres = from === 'l' ? value : value * LITRES_PER_GALLON;
  return units === 'metric' ? litres : litres / LITRES_PER_GALLON;
}

export function pressureIn(value: number, unit: string | null, units: UnitSystem): number | null {
  const from = unit === null ? 'kpa' : PRESSURE[unit];
  if (!from) return null;
  const kpa = from === 'kpa' ? value : from === 'psi' ? value * KPA_PER_PSI : value > MAX_PLAUSIBLE_BAR ? value : value * KPA_PER_BAR;
  return units === 'metric' ? kpa : kpa / KPA_PER_PSI;
}

/** A percentage as a fraction 0..1: v3 sends 0-100 with a percent unit; a bare value ≤ 1 is a fraction already. */
export function fraction(value: number, unit: string | null): number | null {
  if (unit !== null && !PERCENT.has(unit)) return null;
  return unit === null && value <= 1 ? value : value / 100;
}

// The conversions the registry names, one per kind of v3 body.

export const v3Number: V3Convert = (body) => num(body.value);
export const v3Boolean: V3Convert = (body) => bool(body.value);
export const v3String: V3Convert = (body) => str(body.value);
export const v3Percent: V3Convert = (body) => {
  const v = num(body.value);
  return v === null ? null : fraction(v, unitOf(body));
};
export const v3Distance: V3Convert = (body, units) => {
  const v = num(body.value);
  return v === null ? null : distanceIn(v, unitOf(body), units);
};
export const v3Volume: V3Convert = (body, units) => {
  const v = num(body.value);
  return v === null ? null : volumeIn(v, unitOf(body), units);
};
/** A member of the body itself (location: `{latitude, longitude, ...}`). */
export const v3Member =
  (member: string): V3Convert =>
  (body) =>
    num(body[member]);
/** One tyre of `wheel-tires` (`{values: [{row, column, tirePressure}], unit}`); row 0 is the front, column 0 the left. */
export const v3Tire =
  (row: number, column: number): V3Convert =>
  (body, units) => {
    const values = Array.isArray(body.values) ? (body.values as unknown[]) : [];
    const tire = values.find((t): t is Record<string, unknown> => !!t && typeof t === 'object' && (t as Record<string, unknown>).row === row && (t as Record<string, unknown>).column === column);
    const v = num(tire?.tirePressure);
    if (v === null) return null;
    const unit = typeof tire?.unit === 'string' ? tire.unit.toLowerCase() : unitOf(body);
    return pressureIn(v, unit, units);
  };

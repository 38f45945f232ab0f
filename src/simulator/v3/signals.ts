import { apiErrors } from '../errors';
import * as r from '../readings';
import type { MutableVehicleState } from '../readings';
import type { SimVehicle } from '../world';
import { fromV2, V3Error } from './errors';

/**
 * The Vehicle API v3 signals, computed from the same readings as v2 (a car reads the same in both:
 * v2's fraction 0.57 is v3's 57 percent), in the codes and bodies of Smartcar's signal pages.
 */

type Needs = 'electric' | 'fuel' | null;

export interface SignalDef {
  code: string;
  name: string;
  group: string;
  /** The permission that reads it. */
  scope: string;
  needs: Needs;
  /** A live reading (the car's faults apply); the VIN is not. */
  live: boolean;
  body(v: SimVehicle, s: MutableVehicleState, now: number): object;
}

export interface SignalContext {
  vehicle: SimVehicle;
  state: MutableVehicleState;
  now: number;
  permissions: string[];
}

export type SignalStatus = { value: 'SUCCESS' } | { value: 'ERROR'; error: ReturnType<V3Error['short']> };

export interface SignalResource {
  id: string;
  type: 'signal';
  attributes: { code: string; name: string; group: string; status: SignalStatus; body?: object };
  meta?: { retrievedAt: number; oemUpdatedAt: number };
  links: { self: string; vehicle: string };
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));
const pct = (fraction: number) => Math.round(fraction * 100);
const km = (v: number) => ({ unit: 'kilometers', value: v });
const grid = <T extends object>(each: (row: number, column: number) => T) => ({
  values: [0, 1].flatMap((row) => [0, 1].map((column) => ({ row, column, ...each(row, column) }))),
  rowCount: 2,
  columnCount: 2,
});

const def = (code: string, name: string, group: string, scope: string, needs: Needs, body: SignalDef['body'], live = true): SignalDef => ({
  code, name, group, scope, needs, live, body,
});

export const SIGNALS: SignalDef[] = [
  def('vehicleidentification-vin', 'VIN', 'VehicleIdentification', 'read_vin', null, (v) => ({ value: v.vin }), false),
  def('odometer-traveleddistance', 'TraveledDistance', 'Odometer', 'read_odometer', null, (v, _s, now) => km(r.odometer(v, now, 'metric').distance)),
  def('location-preciselocation', 'PreciseLocation', 'Location', 'read_location', null, (v, _s, now) => ({ ...r.location(v, now), locationType: 'CURRENT' })),
  def('tractionbattery-stateofcharge', 'StateOfCharge', 'TractionBattery', 'read_battery', 'electric', (v, s, now) => ({
    unit: 'percent',
    value: pct(r.battery(v, s, now, 'metric').percentRemaining),
  })),
  def('tractionbattery-range', 'Range', 'TractionBattery', 'read_battery', 'electric', (v, s, now) => ({
    ...km(r.battery(v, s, now, 'metric').range),
    type: 'DEFAULT',
    additionalValues: [],
  })),
  def('tractionbattery-nominalcapacity', 'NominalCapacity', 'TractionBattery', 'read_battery', 'electric', (v) => ({
    source: 'SMARTCAR',
    capacity: v.batteryKwh,
    availableCapacities: [{ capacity: v.batteryKwh, description: null }],
    unit: 'kWhr',
  })),
  def('charge-ischargingcableconnected', 'IsChargingCableConnected', 'Charge', 'read_charge', 'electric', (v, s, now) => ({
    value: r.chargeStatus(v, s, now).isPluggedIn,
  })),
  def('charge-ischarging', 'IsCharging', 'Charge', 'read_charge', 'electric', (v, s, now) => ({ value: r.chargeStatus(v, s, now).state === 'CHARGING' })),
  def('charge-detailedchargingstatus', 'DetailedChargingStatus', 'Charge', 'read_charge', 'electric', (v, s, now) => ({
    value: r.chargeStatus(v, s, now).state,
  })),
  def('charge-chargelimits', 'ChargeLimits', 'Charge', 'read_charge', 'electric', (_v, s) => ({
    values: [{ type: 'GLOBAL', limit: pct(s.chargeLimit), condition: null }],
    activeLimit: pct(s.chargeLimit),
    unit: 'percent',
  })),
  def('internalcombustionengine-fuellevel', 'FuelLevel', 'InternalCombustionEngine', 'read_fuel', 'fuel', (v, _s, now) => ({
    unit: 'percent',
    value: pct(r.fuel(v, now, 'metric').percentRemaining),
  })),
  def('internalcombustionengine-range', 'Range', 'InternalCombustionEngine', 'read_fuel', 'fuel', (v, _s, now) => km(r.fuel(v, now, 'metric').range)),
  def('internalcombustionengine-amountremaining', 'AmountRemaining', 'InternalCombustionEngine', 'read_fuel', 'fuel', (v, _s, now) => ({
    unit: 'liters',
    value: r.fuel(v, now, 'metric').amountRemaining,
  })),
  def('internalcombustionengine-oillife', 'OilLife', 'InternalCombustionEngine', 'read_engine_oil', 'fuel', (v, _s, now) => ({
    unit: 'percent',
    value: pct(r.engineOil(v, now).lifeRemaining),
  })),
  def('wheel-tires', 'Tires', 'Wheel', 'read_tires', null, (v, _s, now) => {
    const t = r.tirePressure(v, now, 'metric');
    const kpa = [[t.frontLeft, t.frontRight], [t.backLeft, t.backRight]];
    // v2 answers kPa; the v3 unit is bar (1 bar = 100 kPa).
    return { unit: 'bar', ...grid((row, column) => ({ tirePressure: round(kpa[row]![column]! / 100, 3) })) };
  }),
  def('closure-islocked', 'IsLocked', 'Closure', 'read_security', null, (_v, s) => ({ value: s.isLocked })),
  def('closure-doors', 'Doors', 'Closure', 'read_security', null, (_v, s) => grid(() => ({ isOpen: false, isLocked: s.isLocked }))),
  def('closure-windows', 'Windows', 'Closure', 'read_security', null, () => grid(() => ({ isOpen: false }))),
  def('closure-sunroof', 'Sunroof', 'Closure', 'read_security', null, () => ({ isOpen: false })),
  def('closure-fronttrunk', 'FrontTrunk', 'Closure', 'read_security', null, (_v, s) => ({ isOpen: false, isLocked: s.isLocked })),
  def('closure-reartrunk', 'RearTrunk', 'Closure', 'read_security', null, (_v, s) => ({ isOpen: false, isLocked: s.isLocked })),
];

export function signalDef(code: string): SignalDef | undefined {
  return SIGNALS.find((s) => s.code === code);
}

/** Why this signal cannot be read now (per signal: the answer itself is still 200), or null. */
export function signalError(d: SignalDef, c: SignalContext): V3Error | null {
  if (!c.permissions.includes(d.scope)) {
    return new V3Error(403, 'PERMISSION', null, 'Your application has insufficient permissions to access the requested resource. Please prompt the user to re-authenticate using Smartcar Connect.', 'REAUTHENTICATE');
  }
  const p = c.vehicle.powertrain;
  if ((d.needs === 'electric' && p === 'ICE') || (d.needs === 'fuel' && p === 'BEV')) {
    return new V3Error(501, 'COMPATIBILITY', 'VEHICLE_NOT_CAPABLE', `The vehicle is not capable of providing ${d.group}.${d.name}.`);
  }
  return d.live ? carFault(c.vehicle, `${d.group}.${d.name}`, 0) : null;
}

/** The test cars' deterministic failures (world.ts), as API v3 reports them. */
export function carFault(v: SimVehicle, what: string, retryAfterSec: number): V3Error | null {
  switch (v.fault) {
    case null:
      return null;
    case 'ASLEEP':
      return fromV2(apiErrors.asleep());
    case 'RATE_LIMITED':
      return fromV2(apiErrors.rateLimited(retryAfterSec));
    case 'UPSTREAM_DOWN':
      return fromV2(apiErrors.upstream());
    case 'NOT_CAPABLE':
      return fromV2(apiErrors.notCapable('SMARTCAR_NOT_CAPABLE', what));
  }
}

export function signalResource(d: SignalDef, c: SignalContext): SignalResource {
  const base = `/vehicles/${c.vehicle.id}`;
  const links = { self: `${base}/signals/${d.code}`, vehicle: base };
  const error = signalError(d, c);
  const head = { code: d.code, name: d.name, group: d.group };
  // Error items carry no body and no meta, as Smartcar's do.
  if (error) return { id: d.code, type: 'signal', attributes: { ...head, status: { value: 'ERROR', error: error.short() } }, links };
  return {
    id: d.code,
    type: 'signal',
    attributes: { ...head, status: { value: 'SUCCESS' }, body: d.body(c.vehicle, c.state, c.now) },
    meta: { retrievedAt: c.now, oemUpdatedAt: r.dataAge(c.vehicle, c.now).getTime() },
    links,
  };
}

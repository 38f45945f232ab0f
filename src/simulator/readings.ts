import type { SimVehicle } from './world';

/**
 * Live readings as pure functions of (car, time, the car's mutable state): deterministic, and they
 * move plausibly — the odometer only grows, batteries drain by day and charge at night, fuel drops
 * over a week and is refilled, the car drifts around its home city.
 */

export type UnitSystem = 'metric' | 'imperial';

export interface MutableVehicleState {
  isLocked: boolean;
  /** A START/STOP command overrides the daily charging schedule until the next command. */
  chargeCommand: 'START' | 'STOP' | null;
  chargeLimit: number;
}

export function initialVehicleState(): MutableVehicleState {
  return { isLocked: true, chargeCommand: null, chargeLimit: 0.8 };
}

const DAY_MS = 86_400_000;
const EPOCH = Date.UTC(2024, 0, 1);

const KM_PER_MILE = 1.609344;
const LITERS_PER_GALLON = 3.785411784;
const PSI_PER_KPA = 0.1450377;

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** A number in [0, 1) from the car's seed and a salt. */
function unit(seed: number, salt: number): number {
  let t = (seed + Math.imul(salt, 0x9e3779b9)) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function distance(km: number, units: UnitSystem): number {
  return units === 'metric' ? round(km, 1) : round(km / KM_PER_MILE, 1);
}

export function odometerKm(v: SimVehicle, now: number): number {
  const base = 5_000 + unit(v.seed, 1) * 75_000;
  const perDay = 20 + unit(v.seed, 2) * 40;
  return base + ((now - EPOCH) / DAY_MS) * perDay;
}

export function odometer(v: SimVehicle, now: number, units: UnitSystem) {
  return { distance: distance(odometerKm(v, now), units) };
}

export function location(v: SimVehicle, now: number) {
  const phase = (now / (6 * 3_600_000)) * 2 * Math.PI + unit(v.seed, 3) * 2 * Math.PI;
  return {
    latitude: round(v.home.latitude + 0.02 * Math.sin(phase), 6),
    longitude: round(v.home.longitude + 0.03 * Math.cos(phase), 6),
  };
}

/** Hour of the car's local day, 0..24 (each car has its own offset). */
function hourOfDay(v: SimVehicle, now: number): number {
  return ((now + unit(v.seed, 4) * DAY_MS) % DAY_MS) / 3_600_000;
}

/** The schedule: plugged in from 20:00 to 07:00, driving and draining by day. */
function scheduledCharge(v: SimVehicle, now: number, limit: number) {
  const h = hourOfDay(v, now);
  const low = 0.25 + unit(v.seed, 5) * 0.2;
  if (h >= 7 && h < 20) {
    const soc = limit - ((h - 7) / 13) * (limit - low);
    return { soc, isPluggedIn: false, charging: false };
  }
  const sinceEvening = h >= 20 ? h - 20 : h + 4;
  const soc = Math.min(limit, low + sinceEvening * 0.12);
  return { soc, isPluggedIn: true, charging: soc < limit };
}

export function chargeStatus(v: SimVehicle, s: MutableVehicleState, now: number) {
  const sched = scheduledCharge(v, now, s.chargeLimit);
  let charging = sched.charging;
  if (s.chargeCommand === 'START') charging = sched.isPluggedIn && sched.soc < s.chargeLimit;
  if (s.chargeCommand === 'STOP') charging = false;
  const state = charging ? 'CHARGING' : sched.isPluggedIn && sched.soc >= s.chargeLimit ? 'FULLY_CHARGED' : 'NOT_CHARGING';
  return { soc: sched.soc, isPluggedIn: sched.isPluggedIn, state: state as 'CHARGING' | 'FULLY_CHARGED' | 'NOT_CHARGING' };
}

export function battery(v: SimVehicle, s: MutableVehicleState, now: number, units: UnitSystem) {
  const { soc } = chargeStatus(v, s, now);
  return { percentRemaining: round(soc, 2), range: distance(soc * (v.electricRangeKm ?? 0), units) };
}

export function fuel(v: SimVehicle, now: number, units: UnitSystem) {
  const week = 7 * DAY_MS;
  const phase = ((now + unit(v.seed, 6) * week) % week) / week;
  const pct = 0.95 - phase * 0.8;
  const liters = pct * (v.tankLiters ?? 0);
  return {
    percentRemaining: round(pct, 2),
    range: distance(pct * (v.fuelRangeKm ?? 0), units),
    amountRemaining: units === 'metric' ? round(liters, 1) : round(liters / LITERS_PER_GALLON, 1),
  };
}

export function engineOil(v: SimVehicle, now: number) {
  const interval = 15_000;
  const sinceService = odometerKm(v, now) % interval;
  return { lifeRemaining: round(1 - sinceService / interval, 2) };
}

export function tirePressure(v: SimVehicle, now: number, units: UnitSystem) {
  const drift = 3 * Math.sin(now / (3 * DAY_MS));
  const kpa = (salt: number) => 230 + unit(v.seed, salt) * 20 + drift;
  const p = (salt: number) => (units === 'metric' ? round(kpa(salt), 1) : round(kpa(salt) * PSI_PER_KPA, 1));
  return { frontLeft: p(10), frontRight: p(11), backLeft: p(12), backRight: p(13) };
}

export function security(v: SimVehicle, s: MutableVehicleState) {
  const closed = (type: string) => ({ type, status: 'CLOSED' });
  return {
    isLocked: s.isLocked,
    doors: ['frontLeft', 'frontRight', 'backLeft', 'backRight'].map(closed),
    windows: ['frontLeft', 'frontRight', 'backLeft', 'backRight'].map(closed),
    sunroof: [closed('sunroof')],
    storage: [closed('rear'), closed('front')],
    chargingPort: v.powertrain === 'ICE' ? [] : [closed('chargingPort')],
  };
}

/**
 * When the car last reported: every car reports every 60 s at its own offset, so `sc-data-age`
 * trails `sc-fetched-at` by up to a minute.
 */
export function dataAge(v: SimVehicle, now: number): Date {
  const offset = Math.floor(unit(v.seed, 7) * 60_000);
  return new Date(Math.floor((now - offset) / 60_000) * 60_000 + offset);
}

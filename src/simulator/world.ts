import { createHash } from 'node:crypto';
import { parseErrorRef, type ErrorRef } from './error.catalogue';

/**
 * The simulator's world: users and their cars. Everything is derived deterministically from the
 * username, so the same sign-in always yields the same cars (and tests can make isolated users by
 * signing in with unique names). A few named users are fixed for people trying things by hand.
 */

export type Powertrain = 'BEV' | 'PHEV' | 'ICE';

/** Deterministic failures, in the spirit of Smartcar's test-mode accounts (see README). */
export type Fault = 'ASLEEP' | 'RATE_LIMITED' | 'UPSTREAM_DOWN' | 'NOT_CAPABLE';

export interface ModelSpec {
  make: string;
  model: string;
  year: number;
  powertrain: Powertrain;
  /** Usable battery, kWh (BEV, PHEV). */
  batteryKwh: number | null;
  /** Fuel tank, litres (ICE, PHEV). */
  tankLiters: number | null;
  /** Full-battery electric range, km. */
  electricRangeKm: number | null;
  /** Full-tank range, km. */
  fuelRangeKm: number | null;
}

export interface SimVehicle extends ModelSpec {
  id: string;
  vin: string;
  fault: Fault | null;
  /** Seeds every reading of this car. */
  seed: number;
  home: { latitude: number; longitude: number };
  /** Smartcar's test accounts: every live endpoint answers this error (`<TYPE>.<CODE>@smartcar.com`). */
  testError?: ErrorRef;
  /** `false`: capable of no permission; Connect answers `vehicle_incompatible`. */
  compatible?: boolean;
}

export interface SimUser {
  id: string;
  username: string;
  vehicles: SimVehicle[];
  /** The connected services subscription is inactive: Connect answers `invalid_subscription`. */
  subscriptionInactive?: boolean;
}

const ev = (make: string, model: string, year: number, batteryKwh: number, electricRangeKm: number): ModelSpec => ({
  make, model, year, powertrain: 'BEV', batteryKwh, tankLiters: null, electricRangeKm, fuelRangeKm: null,
});
const ice = (make: string, model: string, year: number, tankLiters: number, fuelRangeKm: number): ModelSpec => ({
  make, model, year, powertrain: 'ICE', batteryKwh: null, tankLiters, electricRangeKm: null, fuelRangeKm,
});
const phev = (make: string, model: string, year: number, batteryKwh: number, electricRangeKm: number, tankLiters: number, fuelRangeKm: number): ModelSpec => ({
  make, model, year, powertrain: 'PHEV', batteryKwh, tankLiters, electricRangeKm, fuelRangeKm,
});

/** Makes are upper case, as Smartcar's attributes return them. */
export const CATALOGUE: readonly ModelSpec[] = [
  ev('TESLA', 'Model 3', 2021, 57.5, 430),
  ice('FORD', 'F-150', 2019, 98, 870),
  ev('NISSAN', 'Leaf', 2020, 39, 240),
  phev('TOYOTA', 'RAV4 Prime', 2022, 18.1, 68, 55, 900),
  ev('VOLKSWAGEN', 'ID.4', 2023, 77, 480),
  ev('HYUNDAI', 'Ioniq 5', 2022, 72.6, 470),
  ev('BMW', 'i3', 2019, 37.9, 250),
  ice('CHEVROLET', 'Silverado', 2020, 91, 800),
  ice('HONDA', 'Civic', 2018, 47, 650),
  phev('VOLVO', 'XC60 Recharge', 2021, 11.6, 35, 71, 820),
  ev('KIA', 'EV6', 2023, 77.4, 500),
  ice('SUBARU', 'Outback', 2017, 70, 850),
];

const WMI: Record<string, string> = {
  TESLA: '5YJ', FORD: '1FT', NISSAN: '1N4', TOYOTA: 'JTM', VOLKSWAGEN: 'WVG', HYUNDAI: 'KM8',
  BMW: 'WBY', CHEVROLET: '1GC', HONDA: '2HG', VOLVO: 'YV4', KIA: 'KNA', SUBARU: '4S4',
};

const CITIES = [
  { latitude: 37.7749, longitude: -122.4194 }, // San Francisco
  { latitude: 40.7128, longitude: -74.006 }, // New York
  { latitude: 52.52, longitude: 13.405 }, // Berlin
  { latitude: 43.6532, longitude: -79.3832 }, // Toronto
  { latitude: 47.6062, longitude: -122.3321 }, // Seattle
];

interface FixedUser {
  /** Indexes into CATALOGUE. */
  models: number[];
  faults?: (Fault | null)[];
}

/** Named accounts for trying the simulator by hand (listed in the README and on the consent page). */
export const FIXED_USERS: Record<string, FixedUser> = {
  'driver@example.com': { models: [0] },
  'family@example.com': { models: [1, 2, 3] },
  'fleet@example.com': { models: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] },
  'asleep@example.com': { models: [4], faults: ['ASLEEP'] },
  'ratelimited@example.com': { models: [5], faults: ['RATE_LIMITED'] },
  'oem-down@example.com': { models: [6], faults: ['UPSTREAM_DOWN'] },
  'not-capable@example.com': { models: [7], faults: ['NOT_CAPABLE'] },
  'mixed@example.com': { models: [0, 4, 5, 6, 7], faults: [null, 'ASLEEP', 'RATE_LIMITED', 'UPSTREAM_DOWN', 'NOT_CAPABLE'] },
};

const TAG_FAULTS: Record<string, Fault> = {
  asleep: 'ASLEEP',
  ratelimited: 'RATE_LIMITED',
  oemdown: 'UPSTREAM_DOWN',
  notcapable: 'NOT_CAPABLE',
};

/** At most this many cars for one generated user (`+60`), enough to exercise paging. */
export const MAX_GENERATED_VEHICLES = 60;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A stable UUID (version-4 layout) derived from text. */
export function stableUuid(text: string): string {
  const h = digest(text);
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const VIN_CHARS = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';

function makeVin(make: string, year: number, key: string): string {
  const h = digest(`vin:${key}`);
  let serial = '';
  for (let i = 0; i < 13; i++) serial += VIN_CHARS[h[i]! % VIN_CHARS.length];
  const yearCode = 'ABCDEFGHJKLMNPRSTVWXY123456789'[(year - 2010 + 30) % 30]!;
  // WMI (3) + descriptor (5) + check (1) + year (1) + plant and serial (7) = 17
  return `${WMI[make] ?? '1SC'}${serial.slice(0, 5)}${serial[5]}${yearCode}${serial.slice(6, 13)}`;
}

function buildVehicle(username: string, index: number, spec: ModelSpec, fault: Fault | null): SimVehicle {
  const key = `${username}#${index}`;
  const seed = digest(`seed:${key}`).readUInt32BE(0);
  return {
    ...spec,
    id: stableUuid(`vehicle:${key}`),
    vin: makeVin(spec.make, spec.year, key),
    fault,
    seed,
    home: CITIES[seed % CITIES.length]!,
  };
}

export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

/**
 * The account behind a username. Fixed users come from FIXED_USERS; any other name gets a generated
 * account whose `+tags` shape it: `+3` (three cars, up to 60), `+ev` / `+fuel` / `+phev` (powertrain),
 * `+asleep`, `+ratelimited`, `+oemdown`, `+notcapable` (every car has that fault), `+mixed` (one healthy
 * car and one with each fault). Example: `ci-42+2+ev@example.com`.
 */
export function userFor(rawUsername: string): SimUser {
  const username = normalizeUsername(rawUsername);
  const id = stableUuid(`user:${username}`);
  const fixed = FIXED_USERS[username];
  if (fixed) {
    const vehicles = fixed.models.map((m, i) => buildVehicle(username, i, CATALOGUE[m]!, fixed.faults?.[i] ?? null));
    return { id, username, vehicles };
  }
  const testAccount = smartcarTestAccount(username, id);
  if (testAccount) return testAccount;
  const local = username.split('@')[0] ?? username;
  const tags = local.split('+').slice(1);
  let count = 1;
  let powertrain: Powertrain | null = null;
  let fault: Fault | null = null;
  let mixed = false;
  for (const tag of tags) {
    if (/^\d+$/.test(tag)) count = Math.min(Math.max(Number(tag), 1), MAX_GENERATED_VEHICLES);
    else if (tag === 'ev') powertrain = 'BEV';
    else if (tag === 'fuel') powertrain = 'ICE';
    else if (tag === 'phev') powertrain = 'PHEV';
    else if (tag === 'mixed') mixed = true;
    else if (TAG_FAULTS[tag]) fault = TAG_FAULTS[tag]!;
  }
  const models = CATALOGUE.filter((m) => powertrain === null || m.powertrain === powertrain);
  const start = digest(`models:${username}`).readUInt32BE(0) % models.length;
  if (mixed) {
    const faults: (Fault | null)[] = [null, 'ASLEEP', 'RATE_LIMITED', 'UPSTREAM_DOWN', 'NOT_CAPABLE'];
    const vehicles = faults.map((f, i) => buildVehicle(username, i, models[(start + i) % models.length]!, f));
    return { id, username, vehicles };
  }
  const vehicles = Array.from({ length: count }, (_, i) => buildVehicle(username, i, models[(start + i) % models.length]!, fault));
  return { id, username, vehicles };
}

/** The cars of Smartcar's documented test VINs (an Audi, as the VINs say). */
const AUDI_PHEV = phev('AUDI', 'Q5 TFSI e', 2021, 14.4, 40, 70, 800);
const AUDI_ICE = ice('AUDI', 'A4', 2019, 54, 780);

/** Compatibility levels of `<VIN>@<level>.smartcar.com`: the powertrain, or a car capable of nothing. */
const LEVELS: Record<string, Powertrain | 'incompatible'> = { compatible: 'PHEV', phev: 'PHEV', bev: 'BEV', fuel: 'ICE', incompatible: 'incompatible' };

/** Smartcar test mode makes up 1 to 999 cars for `<n>-vehicles@smartcar.com`. */
export const MAX_TEST_MODE_VEHICLES = 999;

function withVin(username: string, spec: ModelSpec, vin: string, extra: Partial<SimVehicle> = {}): SimVehicle {
  return { ...buildVehicle(username, 0, spec, null), vin, ...extra };
}

/** A model of this powertrain, the one whose manufacturer code (WMI) starts the VIN if there is one. */
function modelForVin(vin: string, powertrain: Powertrain | null): ModelSpec {
  const models = CATALOGUE.filter((m) => powertrain === null || m.powertrain === powertrain);
  return models.find((m) => WMI[m.make] === vin.slice(0, 3)) ?? models[digest(`models:${vin}`).readUInt32BE(0) % models.length]!;
}

/** The catalogue's model of the manufacturer whose code (WMI) starts this VIN, if the simulator has one. */
export function modelOfVin(vin: string): ModelSpec | null {
  return CATALOGUE.find((m) => WMI[m.make] === vin.slice(0, 3).toUpperCase()) ?? null;
}

/**
 * Smartcar's own test-mode accounts (getting-started/test-your-integration, test-errors):
 * `<n>-vehicles@smartcar.com`, `<VIN>@<compatible|phev|bev|fuel|incompatible>.smartcar.com`,
 * `<TYPE>.<CODE>@smartcar.com` (every live endpoint answers that error), and the documented
 * `smartcar@successful-request.com`, `smartcar@vehicle-incompatible.com`, `smartcar@invalid-subscription.com`.
 */
export function smartcarTestAccount(username: string, id: string): SimUser | null {
  const [local = '', domain = ''] = username.split('@');
  if (domain === 'smartcar.com') {
    const many = /^(\d{1,3})-vehicles$/.exec(local);
    if (many && Number(many[1]) >= 1) {
      const n = Math.min(Number(many[1]), MAX_TEST_MODE_VEHICLES);
      return { id, username, vehicles: Array.from({ length: n }, (_, i) => buildVehicle(username, i, CATALOGUE[i % CATALOGUE.length]!, null)) };
    }
    const ref = parseErrorRef(local);
    if (ref) return { id, username, vehicles: [{ ...buildVehicle(username, 0, CATALOGUE[0]!, null), testError: ref }] };
  }
  const level = /^([a-z0-9]{17})@([a-z]+)\.smartcar\.com$/.exec(username);
  if (level && LEVELS[level[2]!]) {
    const vin = level[1]!.toUpperCase();
    const kind = LEVELS[level[2]!]!;
    const spec = modelForVin(vin, kind === 'incompatible' ? null : kind);
    return { id, username, vehicles: [withVin(username, spec, vin, kind === 'incompatible' ? { compatible: false } : {})] };
  }
  switch (username) {
    case 'smartcar@successful-request.com':
      return { id, username, vehicles: [withVin(username, AUDI_PHEV, '0SCAUDI037A5ADB1C')] };
    case 'smartcar@vehicle-incompatible.com':
      return { id, username, vehicles: [withVin(username, AUDI_ICE, '0SCAUDI012FE3B132', { compatible: false })] };
    case 'smartcar@invalid-subscription.com':
      return { id, username, vehicles: [withVin(username, AUDI_ICE, '0SCAUDI0155C49A95')], subscriptionInactive: true };
    default:
      return null;
  }
}

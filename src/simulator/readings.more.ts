import { odometerKm, type UnitSystem } from './readings';
import type { SimVehicle } from './world';

/**
 * The readings of the less common v2 endpoints (nominal capacity, diagnostics, service history):
 * pure functions of the car and the time, deterministic like readings.ts.
 */

const DAY_MS = 86_400_000;
const KM_PER_MILE = 1.609344;

/** An integer in [0, n) from the car's seed and a salt. */
function bucket(seed: number, salt: number, n: number): number {
  let t = (seed + Math.imul(salt, 0x9e3779b9)) >>> 0;
  t = Math.imul(t ^ (t >>> 16), 0x45d9f3b) >>> 0;
  t = (t ^ (t >>> 16)) >>> 0;
  return t % n;
}

/** `GET /battery/nominal_capacity`: the rated capacities Smartcar knows for the model, and the car's. */
export function nominalCapacity(v: SimVehicle) {
  const kwh = v.batteryKwh ?? 0;
  const own = { capacity: kwh, description: null };
  return {
    availableCapacities: [own, { capacity: Number((kwh * 1.15).toFixed(1)), description: `${v.powertrain}:Extended Range` }],
    capacity: own,
    url: `https://connect.smartcar.com/battery-capacity?vehicle_id=${v.id}&response_type=vehicle_id`,
  };
}

const DTCS = ['P0300', 'P0420', 'P0171', 'P302D', 'C1234', 'B1000', 'U0100'];

/** `GET /diagnostics/dtcs`: zero to two active codes, some without a timestamp. */
export function troubleCodes(v: SimVehicle, now: number) {
  const count = bucket(v.seed, 21, 3);
  const activeCodes = Array.from({ length: count }, (_, i) => ({
    code: DTCS[bucket(v.seed, 22 + i, DTCS.length)]!,
    timestamp: i === 0 ? new Date(Math.floor((now - (1 + bucket(v.seed, 30, 20)) * DAY_MS) / 1000) * 1000).toISOString() : null,
  }));
  return { activeCodes };
}

const SYSTEMS = ['SYSTEM_ABS', 'SYSTEM_ACTIVE_SAFETY', 'SYSTEM_AIRBAG', 'SYSTEM_BRAKE_FLUID', 'SYSTEM_LIGHTING', 'SYSTEM_TIRE_PRESSURE'];

/** `GET /diagnostics/system_status`: every system OK but, for some cars, one ALERT with its words. */
export function systemStatus(v: SimVehicle, _now: number) {
  const ids = [...SYSTEMS, ...(v.powertrain === 'ICE' ? ['SYSTEM_ENGINE'] : ['SYSTEM_EV_BATTERY', 'SYSTEM_EV_CHARGING'])];
  const alert = bucket(v.seed, 40, ids.length * 2);
  return {
    systems: ids.map((systemId, i) => ({
      systemId,
      status: i === alert ? 'ALERT' : 'OK',
      description: i === alert ? 'Service required' : null,
    })),
  };
}

export interface DateRange {
  start: number;
  end: number;
}

function parseDate(text: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z)?$/.test(text)) return null;
  const t = Date.parse(text.length === 10 ? `${text}T00:00:00.000Z` : text);
  return Number.isNaN(t) ? null : t;
}

/**
 * The range of `GET /service/history`: `start_date` / `end_date` as YYYY-MM-DD or ISO-8601 UTC,
 * each optional (the SDK sends the text "undefined" for a missing one); by default the last year.
 * Returns what is wrong as text.
 */
export function serviceRange(startText: string | undefined, endText: string | undefined, now: number): DateRange | string {
  const given = (t: string | undefined) => (t === undefined || t === '' || t === 'undefined' ? null : t);
  const s = given(startText);
  const e = given(endText);
  const start = s === null ? now - 365 * DAY_MS : parseDate(s);
  if (start === null) return '"start_date" must be a date: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS.SSSZ.';
  const end = e === null ? now : parseDate(e);
  if (end === null) return '"end_date" must be a date: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS.SSSZ.';
  if (end < start) return '"end_date" must not be before "start_date".';
  return { start, end };
}

const TASKS = ['Oil change', 'Tire rotation', 'Brake inspection', 'Cabin air filter replacement', 'Multi-point inspection'];

/** `GET /service/history`: a dealer visit about every 180 days (at the car's own offset), newest last. */
export function serviceHistory(v: SimVehicle, now: number, units: UnitSystem, range: DateRange) {
  const every = 180 * DAY_MS;
  const offset = bucket(v.seed, 50, 180) * DAY_MS;
  const records = [];
  for (let k = Math.floor((now - offset) / every); k >= 0; k--) {
    const t = k * every + offset;
    if (t > now || t > range.end) continue;
    if (t < range.start) break;
    const km = Math.max(0, odometerKm(v, t));
    const tasks = [0, 1 + (k % (TASKS.length - 1))].map((i) => ({ taskId: String(i + 1), taskDescription: TASKS[i]! }));
    records.unshift({
      serviceId: (v.seed % 100_000) * 1000 + (k % 1000),
      serviceDate: new Date(t).toISOString(),
      odometerDistance: Math.round(units === 'metric' ? km : km / KM_PER_MILE),
      serviceTasks: tasks,
      serviceDetails: { type: 'dealership' },
      serviceCost: { totalCost: 80 + bucket(v.seed, 60 + (k % 7), 200), currency: 'USD' },
    });
  }
  return records;
}

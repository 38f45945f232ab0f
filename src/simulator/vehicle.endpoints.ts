import { catalogueError } from './error.catalogue';
import { ApiError, apiErrors } from './errors';
import * as r from './readings';
import * as more from './readings.more';
import type { MutableVehicleState, UnitSystem } from './readings';
import type { SimVehicle } from './world';

/**
 * The per-vehicle endpoints of the Vehicles API v2.0 (`/v2.0/vehicles/{id}<path>`): which permission
 * each needs, whether it reads live data (then faults apply and `sc-data-age` is sent), and what it
 * answers. Handlers throw ApiError for Smartcar's error responses.
 */

export interface EndpointContext {
  vehicle: SimVehicle;
  state: MutableVehicleState;
  now: number;
  units: UnitSystem;
  body: unknown;
  /** The granted permissions, for `/permissions`. */
  scopes: string[];
  query: Record<string, string>;
  /** The Connect mode of the grant: in `test` mode commands succeed, as Smartcar's test vehicles' do. */
  mode: string;
}

export interface Endpoint {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  scope: string | null;
  /** Needs the car (or the OEM) to answer: faults apply, and reads carry data age. */
  live: boolean;
  /** Answers depend on `sc-unit-system` (then it is echoed back). */
  units: boolean;
  /** Commands the vehicle (never allowed inside a batch). */
  command: boolean;
  handle(ctx: EndpointContext): object;
}

const SENT = { status: 'success', message: 'Successfully sent request to vehicle' };

function requireElectric(v: SimVehicle, what: string): void {
  if (v.powertrain === 'ICE') throw apiErrors.notCapable('VEHICLE_NOT_CAPABLE', what);
}
function requireFuel(v: SimVehicle, what: string): void {
  if (v.powertrain === 'BEV') throw apiErrors.notCapable('VEHICLE_NOT_CAPABLE', what);
}

function actionOf(body: unknown, allowed: string[]): string {
  const action = (body as { action?: unknown } | null)?.action;
  if (typeof action !== 'string' || !allowed.includes(action)) {
    throw apiErrors.validation(`"action" must be one of [${allowed.join(', ')}].`, 'action');
  }
  return action;
}

function pagingOf(query: Record<string, string>, defaultLimit: number, maxLimit: number) {
  const limit = query.limit === undefined ? defaultLimit : Number(query.limit);
  const offset = query.offset === undefined ? 0 : Number(query.offset);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) throw apiErrors.validation(`"limit" must be an integer from 1 to ${maxLimit}.`, 'limit');
  if (!Number.isInteger(offset) || offset < 0) throw apiErrors.validation('"offset" must be a non-negative integer.', 'offset');
  return { limit, offset };
}

export { pagingOf };

const read = (path: string, scope: string | null, live: boolean, units: boolean, handle: Endpoint['handle']): Endpoint => ({
  method: 'GET', path, scope, live, units, command: false, handle,
});
const command = (method: 'POST' | 'DELETE', path: string, scope: string | null, live: boolean, handle: Endpoint['handle']): Endpoint => ({
  method, path, scope, live, units: false, command: true, handle,
});

export const ENDPOINTS: Endpoint[] = [
  read('/', 'read_vehicle_info', false, false, ({ vehicle: v }) => ({ id: v.id, make: v.make, model: v.model, year: v.year })),
  read('/vin', 'read_vin', false, false, ({ vehicle: v }) => ({ vin: v.vin })),
  read('/permissions', null, false, false, ({ scopes, query }) => {
    const { limit, offset } = pagingOf(query, 25, 100);
    return { permissions: scopes.slice(offset, offset + limit), paging: { count: scopes.length, offset } };
  }),
  read('/odometer', 'read_odometer', true, true, ({ vehicle, now, units }) => r.odometer(vehicle, now, units)),
  read('/location', 'read_location', true, false, ({ vehicle, now }) => r.location(vehicle, now)),
  read('/fuel', 'read_fuel', true, true, ({ vehicle, now, units }) => {
    requireFuel(vehicle, 'fuel tank');
    return r.fuel(vehicle, now, units);
  }),
  read('/battery', 'read_battery', true, true, ({ vehicle, state, now, units }) => {
    requireElectric(vehicle, 'EV battery');
    return r.battery(vehicle, state, now, units);
  }),
  read('/battery/capacity', 'read_battery', true, false, ({ vehicle }) => {
    requireElectric(vehicle, 'EV battery capacity');
    return { capacity: vehicle.batteryKwh };
  }),
  read('/charge', 'read_charge', true, false, ({ vehicle, state, now }) => {
    requireElectric(vehicle, 'EV charging');
    const c = r.chargeStatus(vehicle, state, now);
    return { isPluggedIn: c.isPluggedIn, state: c.state };
  }),
  read('/charge/limit', 'read_charge', true, false, ({ vehicle, state }) => {
    requireElectric(vehicle, 'EV charge limit');
    return { limit: state.chargeLimit };
  }),
  read('/engine/oil', 'read_engine_oil', true, false, ({ vehicle, now }) => {
    requireFuel(vehicle, 'engine oil');
    return r.engineOil(vehicle, now);
  }),
  read('/tires/pressure', 'read_tires', true, true, ({ vehicle, now, units }) => r.tirePressure(vehicle, now, units)),
  read('/security', 'read_security', true, false, ({ vehicle, state }) => r.security(vehicle, state)),
  command('POST', '/security', 'control_security', true, ({ state, body }) => {
    state.isLocked = actionOf(body, ['LOCK', 'UNLOCK']) === 'LOCK';
    return SENT;
  }),
  command('POST', '/charge', 'control_charge', true, ({ vehicle, state, now, body, mode }) => {
    const action = actionOf(body, ['START', 'STOP']) as 'START' | 'STOP';
    requireElectric(vehicle, 'EV charging');
    const c = r.chargeStatus(vehicle, state, now);
    if (action === 'START' && !c.isPluggedIn && mode !== 'test') {
      throw apiErrors.vehicleState('CHARGING_PLUG_NOT_CONNECTED', 'The charging plug is not connected to the vehicle.');
    }
    state.chargeCommand = action;
    return SENT;
  }),
  command('POST', '/charge/limit', 'control_charge', true, ({ vehicle, state, body }) => {
    requireElectric(vehicle, 'EV charge limit');
    // smartcar-node sends the limit as a string ("0.8").
    const raw = (body as { limit?: unknown } | null)?.limit;
    const limit = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0.5 || limit > 1) {
      throw apiErrors.validation('"limit" must be a number from 0.5 to 1.', 'limit');
    }
    state.chargeLimit = limit;
    return SENT;
  }),
  read('/battery/nominal_capacity', 'read_battery', false, false, ({ vehicle }) => {
    requireElectric(vehicle, 'EV battery nominal capacity');
    return more.nominalCapacity(vehicle);
  }),
  read('/diagnostics/dtcs', 'read_diagnostics', true, false, ({ vehicle, now }) => more.troubleCodes(vehicle, now)),
  read('/diagnostics/system_status', 'read_diagnostics', true, false, ({ vehicle, now }) => more.systemStatus(vehicle, now)),
  read('/service/history', 'read_service_history', true, true, ({ vehicle, now, units, query }) => {
    const range = more.serviceRange(query.start_date, query.end_date, now);
    if (typeof range === 'string') throw apiErrors.validation(range, range.startsWith('"end_date"') ? 'end_date' : 'start_date');
    return more.serviceHistory(vehicle, now, units, range);
  }),
  command('POST', '/navigation/destination', 'control_navigation', true, ({ body }) => {
    const b = (body ?? {}) as { latitude?: unknown; longitude?: unknown };
    const inRange = (x: unknown, max: number) => typeof x === 'number' && Number.isFinite(x) && Math.abs(x) <= max;
    if (!inRange(b.latitude, 90)) throw apiErrors.validation('"latitude" must be a number from -90 to 90.', 'latitude');
    if (!inRange(b.longitude, 180)) throw apiErrors.validation('"longitude" must be a number from -180 to 180.', 'longitude');
    return SENT;
  }),
  // Disconnecting needs no permission and works whether or not the car is awake.
  command('DELETE', '/application', null, false, () => ({ status: 'success' })),
];

export function findEndpoint(method: string, path: string): Endpoint | 'method' | undefined {
  const candidates = ENDPOINTS.filter((e) => e.path === path);
  if (candidates.length === 0) return undefined;
  return candidates.find((e) => e.method === method) ?? 'method';
}

/** The test vehicles' deterministic failures; they hit live endpoints only (attributes still work). */
export function faultError(v: SimVehicle, e: Endpoint, retryAfterSec: number): ApiError | null {
  if (!e.live) return null;
  if (v.testError) return catalogueError(v.testError, retryAfterSec);
  if (v.compatible === false) return apiErrors.notCapable('VEHICLE_NOT_CAPABLE', e.path);
  switch (v.fault) {
    case null:
      return null;
    case 'ASLEEP':
      return apiErrors.asleep();
    case 'RATE_LIMITED':
      return apiErrors.rateLimited(retryAfterSec);
    case 'UPSTREAM_DOWN':
      return apiErrors.upstream();
    case 'NOT_CAPABLE':
      return apiErrors.notCapable('SMARTCAR_NOT_CAPABLE', e.path);
  }
}

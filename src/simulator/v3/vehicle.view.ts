import type { AuthState } from '../auth.state';
import { v3Mode, type Connection } from '../connections';
import { SIGNALS, signalResource, type SignalResource } from './signals';

/**
 * What API v3 shows of a connected car: its attributes and its signals now. A car can be told to
 * have reported nothing yet (all signals, or some), as a freshly connected car has not: those
 * signals are missing from the list and `404` one by one.
 */

export class Unreported {
  private readonly byVehicle = new Map<string, Set<string> | 'all'>();

  set(vehicleId: string, codes: string[] | 'all' | null): void {
    if (codes === null || (Array.isArray(codes) && codes.length === 0)) this.byVehicle.delete(vehicleId);
    else this.byVehicle.set(vehicleId, codes === 'all' ? 'all' : new Set(codes));
  }

  has(vehicleId: string, code: string): boolean {
    const u = this.byVehicle.get(vehicleId);
    return u === 'all' || (u !== undefined && u.has(code));
  }
}

export function vehicleAttributes(c: Connection) {
  const v = c.vehicle;
  return { make: v.make, model: v.model, year: v.year, powertrainType: v.powertrain, mode: v3Mode(c.mode) };
}

export function signalsOf(auth: AuthState, unreported: Unreported, c: Connection, now: number): SignalResource[] {
  const ctx = { vehicle: c.vehicle, state: auth.vehicleState(c.vehicle.id), now, permissions: c.permissions };
  return SIGNALS.filter((d) => !unreported.has(c.vehicle.id, d.code)).map((d) => signalResource(d, ctx));
}

import { randomUUID } from 'node:crypto';
import type { SimUser, SimVehicle } from './world';

/**
 * Smartcar's record of who connected which car to which application: one connection per
 * (application, user, vehicle), written by every Connect approval (v2 and v3 alike) and read by the
 * v3 Connections API, v2's management API and the webhooks. A re-authentication replaces the
 * connection with a new id (the vehicle id stays), as Smartcar does.
 */

export interface Connection {
  id: string;
  /** The application id (= the v2 client id). */
  applicationId: string;
  user: SimUser;
  vehicle: SimVehicle;
  /** Connect's `mode`: `live`, `test` or `simulated`. */
  mode: string;
  permissions: string[];
  connectedAt: number;
  updatedAt: number;
}

export interface ConnectionFilter {
  applicationId: string;
  userId?: string;
  vehicleId?: string;
  externalId?: string;
  /** Compared with the connection's v3 mode (`test` counts as `simulated`). */
  mode?: string;
}

/** API v3 knows only `live` and `simulated`; Connect's deprecated `test` mode shows as simulated. */
export function v3Mode(mode: string): 'live' | 'simulated' {
  return mode === 'live' ? 'live' : 'simulated';
}

type Listener = (removed: Connection) => void;

export class ConnectionStore {
  private readonly byId = new Map<string, Connection>();
  /** `${applicationId} ${userId}` → the user's external id (Connect's `external_id`). */
  private readonly externalIds = new Map<string, string>();
  private readonly listeners: Listener[] = [];

  /** Called with every connection removed (deleted or disconnected; a re-auth replaces, it does not remove). */
  onRemove(listener: Listener): void {
    this.listeners.push(listener);
  }

  /**
   * An approval. `externalId`: a string replaces the user's stored one, `null` clears it, `undefined`
   * keeps it.
   */
  record(a: { applicationId: string; user: SimUser; vehicles: SimVehicle[]; mode: string; permissions: string[]; externalId: string | null | undefined; now: number }): Connection[] {
    const key = `${a.applicationId} ${a.user.id}`;
    if (a.externalId === null) this.externalIds.delete(key);
    else if (a.externalId !== undefined) this.externalIds.set(key, a.externalId);
    return a.vehicles.map((vehicle) => {
      const old = this.find(a.applicationId, a.user.id, vehicle.id);
      // A replacement, not a removal: subscriptions and v2 access stay.
      if (old) this.byId.delete(old.id);
      const c: Connection = { id: randomUUID(), applicationId: a.applicationId, user: a.user, vehicle, mode: a.mode, permissions: [...a.permissions], connectedAt: a.now, updatedAt: a.now };
      this.byId.set(c.id, c);
      return c;
    });
  }

  externalIdOf(applicationId: string, userId: string): string | null {
    return this.externalIds.get(`${applicationId} ${userId}`) ?? null;
  }

  get(applicationId: string, id: string): Connection | undefined {
    const c = this.byId.get(id);
    return c?.applicationId === applicationId ? c : undefined;
  }

  find(applicationId: string, userId: string, vehicleId: string): Connection | undefined {
    for (const c of this.byId.values()) if (c.applicationId === applicationId && c.user.id === userId && c.vehicle.id === vehicleId) return c;
    return undefined;
  }

  /** Newest first (Smartcar sorts by connection date, descending). */
  list(f: ConnectionFilter): Connection[] {
    return [...this.byId.values()]
      .filter(
        (c) =>
          c.applicationId === f.applicationId &&
          (f.userId === undefined || c.user.id === f.userId) &&
          (f.vehicleId === undefined || c.vehicle.id === f.vehicleId) &&
          (f.mode === undefined || v3Mode(c.mode) === f.mode) &&
          (f.externalId === undefined || this.externalIdOf(c.applicationId, c.user.id) === f.externalId),
      )
      .sort((a, b) => b.connectedAt - a.connectedAt);
  }

  remove(id: string): Connection | undefined {
    const c = this.byId.get(id);
    if (!c) return undefined;
    this.byId.delete(id);
    for (const l of this.listeners) l(c);
    return c;
  }

  /** Removes what matches; a user left without connections also loses the stored external id. */
  removeWhere(f: ConnectionFilter): Connection[] {
    const removed = this.list(f).map((c) => this.remove(c.id)!);
    for (const c of removed) {
      if (this.list({ applicationId: c.applicationId, userId: c.user.id }).length === 0) this.externalIds.delete(`${c.applicationId} ${c.user.id}`);
    }
    return removed;
  }
}

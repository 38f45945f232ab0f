import { permissionDenied, toAppError } from '../errors';
import type { VehicleSubscriptions } from '../connect/connect.service';
import type { Logger } from '../logger';
import type { RequestSession } from '../session/request-session';
import type { SessionStore } from '../session/session.store';
import type { CommandResult, SmartcarPort } from '../smartcar/smartcar.port';
import type { Credentials } from '../tokens/credentials';
import type { ReadingsCache } from './readings.cache';
import type { NewerReadings } from './signal.service';
import { COMMANDS, type CommandName } from './signal.registry';
import { connectionOf, type VehicleService } from './vehicle.service';

/**
 * Commands to the car and disconnecting it. A command is not idempotent on the car's side, so it is
 * never retried, except after Smartcar's 401 (refused before it reached the car: refresh, retry once).
 */
export class CommandService {
  constructor(
    private readonly vehicles: VehicleService,
    private readonly sessions: SessionStore,
    private readonly credentials: Credentials,
    private readonly smartcar: SmartcarPort,
    private readonly cache: ReadingsCache,
    private readonly logger: Logger,
    /** A command changed the car: its subscribers are told (and read what the cache holds now). */
    private readonly changed: NewerReadings = () => {},
    /** v3 with SMARTCAR_WEBHOOK_ID: vehicles that leave are unsubscribed; else null. */
    private readonly subscriptions: VehicleSubscriptions | null = null,
  ) {}

  private async owner(rs: RequestSession, vehicleId: string) {
    await this.vehicles.resolve(rs, vehicleId);
    const session = await rs.require();
    return { session, ref: connectionOf(session, vehicleId)! };
  }

  async run(rs: RequestSession, vehicleId: string, command: CommandName): Promise<CommandResult> {
    const { session, ref } = await this.owner(rs, vehicleId);
    const { scope, invalidates } = COMMANDS[command];
    if (ref.scopes !== null && !ref.scopes.includes(scope)) {
      throw permissionDenied(scope);
    }
    const result = await this.credentials
      .run(session.hash, ref, (credential) => this.smartcar.command(credential, vehicleId, command))
      .catch((err: unknown) => {
        throw toAppError(err);
      });
    // The readings this command changed are no longer true.
    await this.cache.invalidate(session.hash, ref.id, vehicleId, invalidates).catch((err: unknown) => {
      this.logger.error({ err, vehicleId, command }, 'command sent, but its cached readings could not be invalidated');
    });
    this.changed(session, vehicleId);
    return result;
  }

  /** Revokes the application's access at Smartcar, then forgets the vehicle. */
  async disconnect(rs: RequestSession, vehicleId: string): Promise<boolean> {
    const { session, ref } = await this.owner(rs, vehicleId);
    try {
      await this.credentials.run(session.hash, ref, (credential) => this.smartcar.disconnect(credential, vehicleId));
    } catch (err) {
      const e = toAppError(err);
      // Smartcar no longer accepts this connection at all: there is nothing left to revoke.
      if (e.code !== 'RECONNECT_REQUIRED') throw e;
    }
    await this.cache.forget(session.hash, ref.id, vehicleId).catch(() => undefined);
    await rs.update(await this.sessions.removeVehicle(session, ref, vehicleId));
    if (ref.api === 3 && ref.userId) await this.subscriptions?.unsubscribe(ref.userId, [vehicleId]).catch(() => undefined);
    return true;
  }

  /**
   * Sign-out: a v3 connection holds no token to delete (the application token and the user id reach
   * the car), so each is ended at Smartcar first; then the session and every v2 token go. A failure
   * at Smartcar keeps the session, so signing out again can finish (a connection Smartcar no longer
   * knows counts as ended).
   */
  async signOut(rs: RequestSession): Promise<void> {
    const session = await rs.require();
    for (const ref of session.connections.filter((c) => c.api === 3)) {
      for (const vehicleId of ref.vehicleIds ?? []) {
        try {
          await this.credentials.run(session.hash, ref, (credential) => this.smartcar.disconnect(credential, vehicleId));
        } catch (err) {
          const e = toAppError(err);
          if (e.code !== 'RECONNECT_REQUIRED') throw e;
        }
      }
    }
    await rs.signOut();
    for (const ref of session.connections.filter((c) => c.api === 3 && c.userId)) {
      await this.subscriptions?.unsubscribe(ref.userId!, ref.vehicleIds ?? []).catch(() => undefined);
    }
  }
}

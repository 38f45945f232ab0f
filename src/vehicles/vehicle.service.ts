import type { ConnectService } from '../connect/connect.service';
import { AppError, notInSession } from '../errors';
import type { RequestSession } from '../session/request-session';
import type { ConnectionRef, Session } from '../session/session.store';

/** Which vehicles a session has, and which of its connections owns each. */
export class VehicleService {
  constructor(private readonly connect: ConnectService) {}

  /**
   * The session's vehicle ids, oldest connection first. A connection whose vehicles could not be
   * listed at exchange time is listed now.
   */
  async vehicleIds(rs: RequestSession): Promise<string[]> {
    let session = await rs.require();
    for (const ref of session.connections.filter((c) => c.vehicleIds === null)) {
      await this.connect.describe(rs, session, ref);
      session = await rs.require();
    }
    return [...new Set(session.connections.flatMap((c) => c.vehicleIds ?? []))];
  }

  /** The vehicle `id`, or the session's first one; NOT_FOUND for a vehicle of someone else. */
  async resolve(rs: RequestSession, id: string | null | undefined): Promise<string> {
    const ids = await this.vehicleIds(rs);
    if (id == null) {
      if (ids.length === 0) throw new AppError('UNAUTHENTICATED', 'No vehicle is connected to this session. Connect one first.');
      return ids[0]!;
    }
    if (!ids.includes(id)) throw notInSession();
    return id;
  }

  /** What the driver granted, as recorded at exchange (no upstream request). */
  async permissions(rs: RequestSession, vehicleId: string): Promise<string[]> {
    const ref = connectionOf(await rs.require(), vehicleId);
    if (!ref) throw notInSession();
    return ref.scopes ?? [];
  }
}

/** The newest connection that reaches this vehicle (a newer pair supersedes an older one). */
export function connectionOf(session: Session, vehicleId: string): ConnectionRef | undefined {
  return [...session.connections].reverse().find((c) => c.vehicleIds?.includes(vehicleId));
}

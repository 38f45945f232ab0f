import DataLoader from 'dataloader';
import type { ConnectService } from '../connect/connect.service';
import { AppError, UpstreamError } from '../errors';
import type { RequestSession } from '../session/request-session';
import type { ConnectionRef, Session } from '../session/session.store';
import type { SmartcarApi, VehicleAttributes } from '../smartcar/smartcar.client';
import type { TokenProvider } from '../tokens/token.provider';
import { mapSettled } from '../util/concurrency';
import type { AttributesCache } from './attributes.cache';

/** Concurrent upstream calls per request: bounded so one query cannot stampede Smartcar. */
const UPSTREAM_CONCURRENCY = 4;

export class VehicleService {
  constructor(
    private readonly connect: ConnectService,
    private readonly tokens: TokenProvider,
    private readonly smartcar: SmartcarApi,
    private readonly cache: AttributesCache,
  ) {}

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
    if (!ids.includes(id)) throw new AppError('NOT_FOUND', 'No such vehicle in this session.');
    return id;
  }

  /** One per request: make, model and year of any number of vehicles in as few calls as possible. */
  attributesLoader(rs: RequestSession): DataLoader<string, VehicleAttributes> {
    return new DataLoader((ids) => this.loadAttributes(rs, ids));
  }

  private async loadAttributes(rs: RequestSession, ids: readonly string[]): Promise<(VehicleAttributes | Error)[]> {
    const session = await rs.require();
    const results = new Map<string, VehicleAttributes | Error>();
    const groups = new Map<ConnectionRef, string[]>();
    for (const id of ids) {
      const ref = connectionOf(session, id);
      if (!ref) results.set(id, new AppError('NOT_FOUND', 'No such vehicle in this session.'));
      else groups.set(ref, [...(groups.get(ref) ?? []), id]);
    }
    await Promise.all(
      [...groups].map(([ref, vehicleIds]) =>
        this.loadGroup(session, ref, vehicleIds, results).catch((err: unknown) => {
          // The connection itself failed (Redis, its token): its vehicles without a result carry the error.
          for (const id of vehicleIds) if (!results.has(id)) results.set(id, err as Error);
        }),
      ),
    );
    return ids.map((id) => results.get(id) ?? new AppError('INTERNAL_SERVER_ERROR', 'Internal server error'));
  }

  private async loadGroup(session: Session, ref: ConnectionRef, vehicleIds: string[], results: Map<string, VehicleAttributes | Error>): Promise<void> {
    const cached = await this.cache.get(session.hash, ref.id, vehicleIds);
    const misses = vehicleIds.filter((id, i) => {
      if (cached[i]) results.set(id, cached[i]!);
      return !cached[i];
    });
    if (misses.length === 0) return;
    const fetch = (token: string, ids: string[]) => mapSettled(ids, UPSTREAM_CONCURRENCY, (id) => this.smartcar.attributes(token, id));
    let token = await this.tokens.lend(session.hash, ref.id);
    const fetched = await fetch(token.accessToken, misses);
    // Smartcar said 401 to a token we thought valid: refresh once, retry only those, once.
    const rejected = misses.filter((_, i) => isAuthFailure(fetched[i]!));
    if (rejected.length) {
      token = await this.tokens.renew(session.hash, ref.id, token);
      const retried = await fetch(token.accessToken, rejected);
      rejected.forEach((id, j) => (fetched[misses.indexOf(id)] = retried[j]!));
    }
    const good: VehicleAttributes[] = [];
    fetched.forEach((r, i) => {
      const id = misses[i]!;
      if (r.status === 'fulfilled') good.push({ ...r.value, id });
      results.set(id, r.status === 'fulfilled' ? { ...r.value, id } : (r.reason as Error));
    });
    // A failed cache write costs a later upstream call, nothing more: the answer stands.
    await this.cache.set(session.hash, ref.id, good).catch(() => undefined);
  }
}

function isAuthFailure(r: PromiseSettledResult<unknown>): boolean {
  return r.status === 'rejected' && r.reason instanceof UpstreamError && r.reason.isAuthentication;
}

/** The newest connection that reaches this vehicle (a newer pair supersedes an older one). */
export function connectionOf(session: Session, vehicleId: string): ConnectionRef | undefined {
  return [...session.connections].reverse().find((c) => c.vehicleIds?.includes(vehicleId));
}

import DataLoader from 'dataloader';
import { AppError, toAppError, UpstreamError } from '../errors';
import { metrics } from '../metrics';
import type { RequestSession } from '../session/request-session';
import type { ConnectionRef, Session } from '../session/session.store';
import type { Reading, SmartcarApi, UnitSystem } from '../smartcar/smartcar.client';
import type { TokenProvider } from '../tokens/token.provider';
import { mapSettled } from '../util/concurrency';
import type { CachedReading, PathUnits, ReadingsCache } from './readings.cache';
import { signalByPath } from './signals';
import { connectionOf } from './vehicle.service';

/**
 * Vehicle data for one GraphQL request. Every (vehicle, path, maxAge) asked in the request lands in
 * one DataLoader batch; per vehicle, what the cache cannot answer becomes ONE upstream request (a GET
 * for one path, `POST /batch` for several), whatever the number of fields, aliases and fragments.
 * Permissions are checked before spending anything; failures are never cached.
 */

export interface SignalKey {
  vehicleId: string;
  path: string;
  /** Seconds; a cached reading at most this old is good enough. */
  maxAge: number;
}

export interface SignalOptions {
  unitSystem: UnitSystem;
  defaultMaxAgeSec: number;
  /** Distinct (vehicle, path) readings one request may ask for: the billing cap. */
  maxReadingsPerRequest: number;
}

/** Vehicles read concurrently per request: bounded so one query cannot stampede Smartcar. */
const VEHICLE_CONCURRENCY = 4;

const keyOf = (k: SignalKey) => `${k.vehicleId}\n${k.path}\n${k.maxAge}`;

export class SignalService {
  constructor(
    private readonly tokens: TokenProvider,
    private readonly smartcar: SmartcarApi,
    private readonly cache: ReadingsCache,
    readonly options: SignalOptions,
  ) {}

  loader(rs: RequestSession): DataLoader<SignalKey, Reading, string> {
    const asked = new Set<string>();
    return new DataLoader(
      (keys) => {
        // The billing cap, checked before anything is spent: a request that asks for more distinct
        // readings than allowed gets none of the excess (they fail, the rest resolve).
        for (const k of keys) asked.add(`${k.vehicleId}\n${k.path}`);
        if (asked.size > this.options.maxReadingsPerRequest) {
          const error = new AppError('BAD_USER_INPUT', `This request asks for ${asked.size} vehicle readings; the limit is ${this.options.maxReadingsPerRequest}. Ask for fewer vehicles or fields.`);
          return Promise.resolve(keys.map(() => error));
        }
        return this.load(rs, keys);
      },
      { cacheKeyFn: keyOf },
    );
  }

  /** `maxAge` as given in a query: null means the configured default. */
  maxAge(given: number | null | undefined): number {
    if (given == null) return this.options.defaultMaxAgeSec;
    if (!Number.isInteger(given) || given < 0) throw new AppError('BAD_USER_INPUT', 'maxAge: a number of seconds, 0 or more');
    return given;
  }

  private async load(rs: RequestSession, keys: readonly SignalKey[]): Promise<(Reading | Error)[]> {
    const results = new Map<string, Reading | Error>();
    const session = await rs.require();
    const byVehicle = new Map<string, SignalKey[]>();
    for (const k of keys) byVehicle.set(k.vehicleId, [...(byVehicle.get(k.vehicleId) ?? []), k]);
    await mapSettled([...byVehicle], VEHICLE_CONCURRENCY, ([vehicleId, vehicleKeys]) =>
      this.loadVehicle(session, vehicleId, vehicleKeys, results).catch((err: unknown) => {
        for (const k of vehicleKeys) if (!results.has(keyOf(k))) results.set(keyOf(k), toAppError(err));
      }),
    );
    return keys.map((k) => results.get(keyOf(k)) ?? new AppError('INTERNAL_SERVER_ERROR', 'Internal server error'));
  }

  private async loadVehicle(session: Session, vehicleId: string, keys: SignalKey[], results: Map<string, Reading | Error>): Promise<void> {
    const ref = connectionOf(session, vehicleId);
    if (!ref) {
      for (const k of keys) results.set(keyOf(k), new AppError('NOT_FOUND', 'No such vehicle in this session.'));
      return;
    }
    const allowed = keys.filter((k) => {
      const scope = signalByPath(k.path).scope;
      if (ref.scopes === null || ref.scopes.includes(scope)) return true;
      results.set(keyOf(k), new AppError('PERMISSION_DENIED', `The driver did not grant ${scope}.`, { scope }));
      return false;
    });
    const paths: PathUnits[] = [...new Set(allowed.map((k) => k.path))].map((path) => ({
      path,
      units: signalByPath(path).permanent ? null : this.options.unitSystem,
    }));
    if (paths.length === 0) return;

    const cached = await this.cache.get(session.hash, ref.id, vehicleId, paths);
    const now = Date.now();
    const goodEnough = (k: SignalKey) => {
      const c = cached.get(k.path);
      return c !== undefined && (signalByPath(k.path).permanent || now - c.receivedAt <= k.maxAge * 1000);
    };
    const stale = new Set(allowed.filter((k) => !goodEnough(k)).map((k) => k.path));
    metrics.cache.inc({ result: 'hit' }, paths.length - stale.size);
    if (stale.size) metrics.cache.inc({ result: 'miss' }, stale.size);
    const fetched = stale.size ? await this.fetch(session, ref, vehicleId, [...stale]) : new Map<string, Reading | UpstreamError>();

    const fresh: [PathUnits, CachedReading][] = [];
    for (const p of paths) {
      const r = fetched.get(p.path);
      if (r && !(r instanceof UpstreamError)) fresh.push([p, { ...r, receivedAt: now }]);
    }
    // A failed cache write costs a later upstream call, nothing more: the answer stands.
    await this.cache.set(session.hash, ref.id, vehicleId, fresh).catch(() => undefined);

    for (const k of allowed) {
      const r = stale.has(k.path) ? fetched.get(k.path) : cached.get(k.path);
      results.set(keyOf(k), r === undefined ? new AppError('INTERNAL_SERVER_ERROR', 'Internal server error') : r instanceof UpstreamError ? toAppError(r) : r);
    }
  }

  /** One upstream request for these paths; paths Smartcar answered 401 to are retried once, renewed. */
  private async fetch(session: Session, ref: ConnectionRef, vehicleId: string, paths: string[]): Promise<Map<string, Reading | UpstreamError>> {
    const units = this.options.unitSystem;
    let token = await this.tokens.lend(session.hash, ref.id);
    const out = await this.smartcar.vehicleData(token.accessToken, vehicleId, paths, units);
    const rejected = paths.filter((p) => {
      const r = out.get(p);
      return r instanceof UpstreamError && r.isAuthentication;
    });
    if (rejected.length) {
      token = await this.tokens.renew(session.hash, ref.id, token);
      for (const [p, r] of await this.smartcar.vehicleData(token.accessToken, vehicleId, rejected, units)) out.set(p, r);
    }
    return out;
  }
}

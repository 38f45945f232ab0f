import DataLoader from 'dataloader';
import { LRUCache } from 'lru-cache';
import { AppError, notInSession, permissionDenied, toAppError, UpstreamError } from '../errors';
import { metrics } from '../metrics';
import type { RequestSession } from '../session/request-session';
import type { ConnectionRef, Session } from '../session/session.store';
import type { SignalAnswers, SmartcarPort } from '../smartcar/smartcar.port';
import type { Credentials, LentCredential } from '../tokens/credentials';
import { mapSettled } from '../util/concurrency';
import { readingRef, type CachedReading, type ReadingRef, type ReadingsCache } from './readings.cache';
import { SIGNALS, type Reading, type SignalName } from './signal.registry';
import type { UnitSystem } from './signal.units';
import { connectionOf } from './vehicle.service';

/**
 * Vehicle data for one GraphQL request. Every (vehicle, signal, maxAge) asked in the request lands in
 * one DataLoader batch; per vehicle, what the cache cannot answer becomes ONE upstream request,
 * whatever the number of fields, aliases and fragments.
 * Permissions are checked before spending anything; failures are never cached.
 */

export interface SignalKey {
  vehicleId: string;
  signal: SignalName;
  /** Seconds; a cached reading at most this old is good enough. */
  maxAge: number;
}

export interface SignalOptions {
  unitSystem: UnitSystem;
  defaultMaxAgeSec: number;
  /** Distinct (vehicle, signal) readings one request may ask for: the billing cap. */
  maxReadingsPerRequest: number;
}

/**
 * Vehicles of one connection read concurrently: bounded so one query cannot stampede Smartcar, and
 * high enough that a dashboard of ten cars waits for one upstream round trip, not several.
 */
const VEHICLE_CONCURRENCY = 10;

const keyOf = (k: SignalKey) => `${k.vehicleId}\n${k.signal}\n${k.maxAge}`;

/**
 * Permanent readings (attributes, VIN) held in process as well as in Redis: they never change while
 * their connection lives, and "show make, model and year" is the commonest request there is. Keyed
 * by connection id (random, one per exchange), and consulted only after the session loaded for the
 * request has shown that the vehicle is still in that connection, so a disconnect or sign-out on
 * another instance is seen at once. Bounded: ≈ 300 bytes an entry.
 */
const PERMANENT_ENTRIES = 10_000;

/**
 * Told of each vehicle whose cache now holds readings newer than before (live subscriptions), with
 * the session as loaded for the request: it says whether any subscription may be listening.
 */
export type NewerReadings = (session: Session, vehicleId: string) => void;

export class SignalService {
  constructor(
    private readonly credentials: Credentials,
    private readonly smartcar: SmartcarPort,
    private readonly cache: ReadingsCache,
    readonly options: SignalOptions,
    private readonly newer: NewerReadings = () => {},
  ) {}

  private readonly permanent = new LRUCache<string, CachedReading>({ max: PERMANENT_ENTRIES });

  loader(rs: RequestSession): DataLoader<SignalKey, Reading, string> {
    const asked = new Set<string>();
    return new DataLoader(
      (keys) => {
        // The billing cap, checked before anything is spent: a request that asks for more distinct
        // readings than allowed gets none of the excess (they fail, the rest resolve).
        for (const k of keys) asked.add(readingKey(k.vehicleId, k.signal));
        if (asked.size > this.options.maxReadingsPerRequest) {
          const error = new AppError('BAD_USER_INPUT', `This request asks for ${asked.size} vehicle readings; the limit is ${this.options.maxReadingsPerRequest}. Ask for fewer vehicles or fields.`);
          return Promise.resolve(keys.map(() => error));
        }
        return this.load(rs, keys);
      },
      { cacheKeyFn: keyOf },
    );
  }

  /**
   * Readings for a subscription event: the cache only, never Smartcar (an event must cost nothing
   * upstream). A reading not cached is null, no error; `maxAge` is ignored (the newest reading held is
   * the one the event announces). The session's vehicles and permissions apply as in queries. One
   * Redis read per connection, whatever the fields asked.
   */
  cachedLoader(rs: RequestSession): DataLoader<SignalKey, Reading | null, string> {
    return new DataLoader(
      async (keys) => {
        const session = await rs.require();
        const results = new Map<string, Reading | null | Error>();
        const toRead = new Map<ConnectionRef, ReadingRef[]>();
        for (const k of keys) {
          const rk = readingKey(k.vehicleId, k.signal);
          const ref = connectionOf(session, k.vehicleId);
          const spec = SIGNALS[k.signal];
          const r = readingRef(k.vehicleId, k.signal, this.options.unitSystem);
          const kept = ref && r.units === null ? this.permanent.get(permanentKey(ref.id, r)) : undefined;
          if (!ref) results.set(rk, notInSession());
          else if (ref.scopes !== null && !ref.scopes.includes(spec.scope)) results.set(rk, permissionDenied(spec.scope));
          else if (kept) results.set(rk, kept);
          else toRead.set(ref, [...(toRead.get(ref) ?? []), r]);
        }
        await Promise.all(
          [...toRead].map(async ([ref, refs]) => {
            try {
              const got = await this.cache.get(session.hash, ref.id, refs);
              refs.forEach((r, i) => {
                const c = got[i] ?? null;
                if (c && r.units === null) this.permanent.set(permanentKey(ref.id, r), c);
                const answer = c?.failure ? toAppError(reported(c)) : c;
                results.set(readingKey(r.vehicleId, r.signal), answer);
              });
            } catch (err) {
              for (const r of refs) results.set(readingKey(r.vehicleId, r.signal), toAppError(err));
            }
          }),
        );
        return keys.map((k) => results.get(readingKey(k.vehicleId, k.signal)) ?? null);
      },
      // maxAge plays no part: one key per reading.
      { cacheKeyFn: (k) => readingKey(k.vehicleId, k.signal) },
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
    const byConnection = new Map<ConnectionRef, SignalKey[]>();
    for (const k of keys) {
      const ref = connectionOf(session, k.vehicleId);
      if (!ref) results.set(keyOf(k), notInSession());
      else byConnection.set(ref, [...(byConnection.get(ref) ?? []), k]);
    }
    await Promise.all(
      [...byConnection].map(([ref, connectionKeys]) =>
        this.loadConnection(session, ref, connectionKeys, results).catch((err: unknown) => {
          // The connection itself failed (Redis, its token): its keys without a result carry the error.
          for (const k of connectionKeys) if (!results.has(keyOf(k))) results.set(keyOf(k), toAppError(err));
        }),
      ),
    );
    return keys.map((k) => results.get(keyOf(k)) ?? new AppError('INTERNAL_SERVER_ERROR', 'Internal server error'));
  }

  /**
   * Everything asked of one connection's vehicles: one cache read, one credential, one upstream request
   * per vehicle that needs one (concurrently, bounded), one cache write.
   */
  private async loadConnection(session: Session, ref: ConnectionRef, keys: SignalKey[], results: Map<string, Reading | Error>): Promise<void> {
    const allowed = keys.filter((k) => {
      const scope = SIGNALS[k.signal].scope;
      if (ref.scopes === null || ref.scopes.includes(scope)) return true;
      results.set(keyOf(k), permissionDenied(scope));
      return false;
    });
    const refs = uniqueRefs(allowed, this.options.unitSystem);
    if (refs.length === 0) return;
    // Readings asked with maxAge 0 go upstream whatever the cache holds: fetch the credential meanwhile.
    const mustFetch = allowed.some((k) => k.maxAge === 0 && !SIGNALS[k.signal].permanent);
    const earlyCredential = mustFetch ? this.credentials.lend(session.hash, ref) : null;
    earlyCredential?.catch(() => undefined); // awaited in fetch(); this keeps a failure seen first elsewhere from going unhandled

    // The widest maxAge any key allows for each reading: one asked only with maxAge 0 is not read
    // from the cache at all (it could not be fresh enough).
    const widest = new Map<string, number>();
    for (const k of allowed) {
      const rk = readingKey(k.vehicleId, k.signal);
      widest.set(rk, Math.max(widest.get(rk) ?? 0, k.maxAge));
    }
    const cached = new Map<string, CachedReading>();
    const toRead: ReadingRef[] = [];
    for (const r of refs) {
      const kept = r.units === null ? this.permanent.get(permanentKey(ref.id, r)) : undefined;
      if (kept) cached.set(readingKey(r.vehicleId, r.signal), kept);
      else if (r.units === null || widest.get(readingKey(r.vehicleId, r.signal))! > 0) toRead.push(r);
    }
    const cachedList = toRead.length ? await this.cache.get(session.hash, ref.id, toRead) : [];
    toRead.forEach((r, i) => {
      const c = cachedList[i];
      if (!c) return;
      cached.set(readingKey(r.vehicleId, r.signal), c);
      if (r.units === null) this.permanent.set(permanentKey(ref.id, r), c);
    });

    const now = Date.now();
    const goodEnough = (k: SignalKey) => {
      const c = cached.get(readingKey(k.vehicleId, k.signal));
      return c !== undefined && (SIGNALS[k.signal].permanent || now - c.receivedAt <= k.maxAge * 1000);
    };
    const stale = new Map<string, Set<SignalName>>(); // vehicle → signals to ask Smartcar for
    for (const k of allowed) if (!goodEnough(k)) stale.set(k.vehicleId, (stale.get(k.vehicleId) ?? new Set<SignalName>()).add(k.signal));
    const staleCount = [...stale.values()].reduce((n, p) => n + p.size, 0);
    metrics.cache.inc({ result: 'hit' }, refs.length - staleCount);
    if (staleCount) metrics.cache.inc({ result: 'miss' }, staleCount);

    const fetched = stale.size ? await this.fetch(session, ref, stale, earlyCredential) : new Map<string, Reading | UpstreamError>();
    const fresh: [ReadingRef, CachedReading][] = [];
    for (const r of refs) {
      const got = fetched.get(readingKey(r.vehicleId, r.signal));
      if (!got || got instanceof UpstreamError) continue;
      const entry: CachedReading = { ...got, receivedAt: now };
      fresh.push([r, entry]);
      if (r.units === null) this.permanent.set(permanentKey(ref.id, r), entry);
    }
    // Not awaited: the answer does not depend on it, and this process's next Redis command is sent
    // after it on the same connection, so its own next request sees it. A failed write costs a later
    // upstream call, nothing more.
    const changed = [...new Set(fresh.filter(([r]) => r.units !== null).map(([r]) => r.vehicleId))];
    this.cache.set(session.hash, ref.id, fresh).then(
      () => changed.forEach((vehicleId) => this.newer(session, vehicleId)),
      () => undefined,
    );

    for (const k of allowed) {
      const rk = readingKey(k.vehicleId, k.signal);
      const r = fetched.get(rk) ?? reported(cached.get(rk));
      results.set(keyOf(k), r === undefined ? new AppError('INTERNAL_SERVER_ERROR', 'Internal server error') : r instanceof UpstreamError ? toAppError(r) : r);
    }
  }

  /**
   * One upstream request per vehicle, all with one credential; the signals Smartcar answered 401 to
   * are retried once with a renewed one.
   */
  private async fetch(
    session: Session,
    ref: ConnectionRef,
    stale: Map<string, Set<SignalName>>,
    earlyCredential: Promise<LentCredential> | null,
  ): Promise<Map<string, Reading | UpstreamError>> {
    const units = this.options.unitSystem;
    const out = new Map<string, Reading | UpstreamError>();
    const read = async (lent: LentCredential, work: [string, SignalName[]][]) => {
      const answers = await mapSettled(work, VEHICLE_CONCURRENCY, ([vehicleId, signals]) => this.smartcar.readSignals(lent.credential, vehicleId, signals, units));
      answers.forEach((a, i) => {
        const [vehicleId, signals] = work[i]!;
        if (a.status === 'rejected') throw a.reason; // readSignals answers every failure; this is a bug
        const got: SignalAnswers = a.value;
        for (const s of signals) out.set(readingKey(vehicleId, s), got.get(s)!);
      });
    };
    let lent = await (earlyCredential ?? this.credentials.lend(session.hash, ref));
    await read(lent, [...stale].map(([v, signals]) => [v, [...signals]]));
    const rejected: [string, SignalName[]][] = [];
    for (const [v, signals] of stale) {
      const again = [...signals].filter((s) => {
        const r = out.get(readingKey(v, s));
        return r instanceof UpstreamError && r.isAuthentication;
      });
      if (again.length) rejected.push([v, again]);
    }
    if (rejected.length) {
      lent = await this.credentials.renew(session.hash, ref, lent);
      await read(lent, rejected);
    }
    return out;
  }
}

/** A cached entry as answered: a failure Smartcar reported by webhook is that error. */
export function reported(c: CachedReading | undefined): Reading | UpstreamError | undefined {
  return c?.failure ? new UpstreamError('response', c.failure.status, c.failure.details) : c;
}

const readingKey = (vehicleId: string, signal: SignalName) => `${vehicleId}\n${signal}`;
const permanentKey = (connectionId: string, r: ReadingRef) => `${connectionId}\n${r.vehicleId}\n${r.signal}`;

function uniqueRefs(keys: SignalKey[], units: UnitSystem): ReadingRef[] {
  const seen = new Map<string, ReadingRef>();
  for (const k of keys) {
    const rk = readingKey(k.vehicleId, k.signal);
    if (!seen.has(rk)) seen.set(rk, readingRef(k.vehicleId, k.signal, units));
  }
  return [...seen.values()];
}

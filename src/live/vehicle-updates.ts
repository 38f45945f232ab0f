import { AppError, notInSession, toAppError, unauthenticated } from '../errors';
import { metrics } from '../metrics';
import { RequestSession } from '../session/request-session';
import type { SessionStore } from '../session/session.store';
import type { PresentedToken } from '../session/session.token';
import { connectionOf } from '../vehicles/vehicle.service';
import { TooManySubscriptions, type VehicleEvents } from './vehicle-events';

/**
 * `vehicleUpdated`: one stream per subscription, fed by VehicleEvents (every instance publishes there).
 * Each event re-loads the session, so a sign-out or a disconnect on another instance is seen at the
 * next event: the session gone ends the stream (UNAUTHENTICATED), the subscribed vehicle gone ends it
 * (NOT_FOUND); without an id, an event of a vehicle no longer in the session is skipped. Until an event
 * arrives nothing is checked: a session that ended quietly keeps its (silent) subscription until the
 * socket closes. Never an upstream request: the session is read from Redis, the vehicle's readings
 * from the cache (SignalService.cachedLoader).
 */

/**
 * One event: the vehicle with newer readings and the session as loaded for it, or an error (`ends`:
 * the stream completes after it; else, e.g. Redis failing for a moment, only this event failed).
 */
export type VehicleUpdated = { vehicleId: string; session: RequestSession } | { error: AppError; ends: boolean };

const SESSION_ENDED = 'The session ended (signed out or expired): this subscription is over. Subscribe again with a new session.';
const VEHICLE_GONE = 'The vehicle is no longer in this session: this subscription is over.';

/**
 * While a session has a subscription open here, its record says so (`live`, renewed every
 * LIVE_RENEW_MS, valid for LIVE_MARK_MS): readings fetched by its queries and its commands are then
 * announced (a PUBLISH), and those of sessions nobody watches cost nothing.
 */
const LIVE_RENEW_MS = 60_000;
const LIVE_MARK_MS = 3 * LIVE_RENEW_MS;

export class VehicleUpdates {
  private readonly open = new Set<UpdateStream>();
  /** Session reads under way, by session hash (see fresh()). */
  private readonly reading = new Map<string, RequestSession>();
  /** Open streams per session hash. */
  private readonly watched = new Map<string, number>();
  private renewer: NodeJS.Timeout | null = null;

  constructor(
    private readonly events: VehicleEvents,
    private readonly sessions: SessionStore,
  ) {}

  /** Marks the session watched now (best effort: without it only query-fetched readings go unannounced). */
  private markLive(hash: string): Promise<void> {
    return this.sessions.markLive(hash, Date.now() + LIVE_MARK_MS).catch(() => undefined);
  }

  private watch(hash: string): () => void {
    this.watched.set(hash, (this.watched.get(hash) ?? 0) + 1);
    this.renewer ??= setInterval(() => {
      for (const h of this.watched.keys()) void this.markLive(h);
    }, LIVE_RENEW_MS).unref();
    return () => {
      const n = (this.watched.get(hash) ?? 1) - 1;
      if (n > 0) this.watched.set(hash, n);
      else this.watched.delete(hash);
      if (this.watched.size === 0 && this.renewer) {
        clearInterval(this.renewer);
        this.renewer = null;
      }
    };
  }

  /**
   * The session as a subscription sees it: loaded, never created, never given a cookie (it is read
   * as a bearer's: a cookie session seen with a longer life would otherwise record a cookie that no
   * answer carries).
   */
  session(presented: PresentedToken): RequestSession {
    return new RequestSession(this.sessions, { ...presented, via: 'bearer' }, () => undefined, { secure: true }, 0);
  }

  /**
   * A stream of the session's updates (of `vehicleId` only, when given). Refuses at once, before any
   * event: UNAUTHENTICATED without a session, NOT_FOUND for a vehicle not in it, RATE_LIMITED past the
   * subscription limits.
   */
  async subscribe(presented: PresentedToken, vehicleId: string | null): Promise<AsyncIterableIterator<VehicleUpdated>> {
    const session = await this.session(presented).get();
    if (!session) throw unauthenticated(SESSION_ENDED);
    if (vehicleId !== null && !connectionOf(session, vehicleId)) throw notInSession();
    let unwatch = () => undefined as void;
    const stream = new UpdateStream(
      (updated) => this.reload(presented, updated, vehicleId === null),
      vehicleId,
      () => {
        this.open.delete(stream);
        unwatch();
        metrics.liveSubscribers.dec();
      },
    );
    try {
      stream.listening(this.events.listen(session.hash, (u) => stream.push(u.vehicleId)));
    } catch (err) {
      if (err instanceof TooManySubscriptions) throw new AppError('RATE_LIMITED', err.message, { limit: 'subscriptions' });
      throw err;
    }
    unwatch = this.watch(session.hash);
    await this.markLive(session.hash);
    this.open.add(stream);
    metrics.liveSubscribers.inc();
    return stream;
  }

  /**
   * The session read afresh for an event. The subscriptions of one session that wake for the same
   * update share one read while it is under way (an event to a session with 20 subscriptions reads
   * it once, not 20 times); a later event reads it again.
   */
  private fresh(presented: PresentedToken): RequestSession {
    const hash = presented.hash;
    if (hash === null) return this.session(presented); // no session: nothing to share
    const shared = this.reading.get(hash);
    if (shared) return shared;
    const rs = this.session(presented);
    this.reading.set(hash, rs);
    const done = () => void this.reading.delete(hash);
    rs.get().then(done, done);
    return rs;
  }

  /** The event of `vehicleId` after re-reading the session: emitted, skipped (null), or the end. */
  private async reload(presented: PresentedToken, vehicleId: string, skipGone: boolean): Promise<VehicleUpdated | null> {
    const rs = this.fresh(presented);
    let session;
    try {
      session = await rs.get();
    } catch (err) {
      return { error: toAppError(err), ends: false };
    }
    if (!session) return { error: unauthenticated(SESSION_ENDED), ends: true };
    if (!connectionOf(session, vehicleId)) return skipGone ? null : { error: new AppError('NOT_FOUND', VEHICLE_GONE), ends: true };
    return { vehicleId, session: rs };
  }

  /** Ends every stream of this process (shutdown): each completes after the event it is sending. */
  endAll(): void {
    for (const stream of [...this.open]) stream.end();
    if (this.renewer) clearInterval(this.renewer);
    this.renewer = null;
  }

  /** Streams open in this process. */
  get size(): number {
    return this.open.size;
  }
}

/**
 * The AsyncIterator graphql-js consumes: it asks for the next event only once the previous one was
 * executed and sent. Updates that arrive meanwhile wait, one per vehicle (a vehicle's later update
 * carries its earlier readings too), so the queue is bounded by the session's vehicles.
 */
class UpdateStream implements AsyncIterableIterator<VehicleUpdated> {
  private readonly pending = new Set<string>();
  private waiting: ((vehicleId: string | null) => void) | null = null;
  private ended = false;
  private unlisten: () => void = () => undefined;

  constructor(
    private readonly reload: (vehicleId: string) => Promise<VehicleUpdated | null>,
    /** Only this vehicle's updates (null: any of the session's). */
    private readonly only: string | null,
    private readonly onEnd: () => void,
  ) {}

  listening(unlisten: () => void): void {
    this.unlisten = unlisten;
  }

  push(vehicleId: string): void {
    if (this.ended || (this.only !== null && vehicleId !== this.only)) return;
    if (this.waiting) {
      const wake = this.waiting;
      this.waiting = null;
      wake(vehicleId);
    } else this.pending.add(vehicleId);
  }

  async next(): Promise<IteratorResult<VehicleUpdated>> {
    while (!this.ended) {
      const vehicleId = this.take() ?? (await new Promise<string | null>((resolve) => (this.waiting = resolve)));
      if (vehicleId === null || this.ended) break;
      const update = await this.reload(vehicleId);
      if (this.ended) break; // returned meanwhile (the client left, shutdown)
      if (update === null) continue;
      if ('error' in update && update.ends) this.end(); // this event says why; the next call completes
      return { value: update, done: false };
    }
    return { value: undefined, done: true };
  }

  private take(): string | null {
    const first = this.pending.values().next();
    if (first.done) return null;
    this.pending.delete(first.value);
    return first.value;
  }

  /** Unsubscribes (once) and lets a waiting next() complete. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending.clear();
    this.unlisten();
    this.onEnd();
    const wake = this.waiting;
    this.waiting = null;
    wake?.(null);
  }

  async return(): Promise<IteratorResult<VehicleUpdated>> {
    this.end();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

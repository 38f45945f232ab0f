import { UpstreamError } from '../errors';
import type { Logger } from '../logger';
import { metrics } from '../metrics';
import { answersFromWebhook, signalError, signalsOfCodes, signalsWithCodes } from '../smartcar/v3.mapping';
import { readingRef, type CachedReading, type ReadingRef, type ReadingsCache } from '../vehicles/readings.cache';
import type { SignalName } from '../vehicles/signal.registry';
import type { UnitSystem } from '../vehicles/signal.units';
import type { VehicleEvents } from './vehicle-events';
import type { IndexedConnection, VehicleIndex } from './vehicle-index';
import type { EventOf } from './webhook.receiver';

/**
 * What a verified webhook event does: its vehicle's readings go into the cache of every connection
 * that reaches the vehicle, each only where newer than the one held (the cache's own rule, in one
 * script per connection); errors Smartcar reports are recorded there in place of the readings they
 * concern, so the next read answers that error without asking Smartcar; a resolved error is cleared.
 * Each connection that changed is announced to its session's live subscriptions.
 */
export class WebhookApplier {
  constructor(
    private readonly index: VehicleIndex,
    private readonly cache: ReadingsCache,
    private readonly events: VehicleEvents,
    private readonly units: UnitSystem,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  readonly apply = async (event: EventOf<'state'> | EventOf<'error'>): Promise<void> => {
    const connections = await this.index.connectionsOf(event.vehicleId);
    if (connections.length === 0) {
      this.logger.debug({ eventId: event.eventId }, 'webhook for a vehicle no session holds');
      return;
    }
    const now = this.now();
    const entries = event.kind === 'state' ? this.stateEntries(event, now) : this.errorEntries(event, now);
    const resolved = event.kind === 'error' ? this.resolvedRefs(event) : [];
    await Promise.all(connections.map((c) => this.applyTo(c, event.vehicleId, entries, resolved)));
  };

  private async applyTo(c: IndexedConnection, vehicleId: string, entries: [ReadingRef, CachedReading][], resolved: ReadingRef[]): Promise<void> {
    const written = await this.cache.setIfNewer(c.sessionHash, c.connectionId, entries);
    if (written === null) {
      // The connection is gone (signed out, expired, disconnected elsewhere): forget it here too.
      await this.index.remove([vehicleId], c).catch(() => undefined);
      return;
    }
    const cleared = resolved.length ? await this.cache.clearFailures(c.sessionHash, c.connectionId, resolved) : [];
    const failures = new Set(entries.filter(([, r]) => r.failure).map(([ref]) => ref.signal));
    const recorded = written.filter((ref) => failures.has(ref.signal)).length;
    metrics.webhookReadings.inc({ result: 'written' }, written.length - recorded);
    if (recorded) metrics.webhookReadings.inc({ result: 'failure' }, recorded);
    if (entries.length > written.length) metrics.webhookReadings.inc({ result: 'stale' }, entries.length - written.length);
    if (cleared.length) metrics.webhookReadings.inc({ result: 'resolved' }, cleared.length);
    if (written.length || cleared.length) await this.events.publish({ sessionHash: c.sessionHash, vehicleId });
  }

  private ref(vehicleId: string, signal: SignalName): ReadingRef {
    return readingRef(vehicleId, signal, this.units);
  }

  /**
   * A reading is as fresh as when Smartcar fetched it from the car (`retrievedAt`), never later than
   * its arrival here; an error Smartcar reports is as fresh as its arrival.
   */
  private stateEntries(event: EventOf<'state'>, now: number): [ReadingRef, CachedReading][] {
    const answers = answersFromWebhook(event.signals, event.vehicle, this.units);
    return [...answers].map(([signal, answer]) => {
      const ref = this.ref(event.vehicleId, signal);
      if (answer instanceof UpstreamError) return [ref, failureEntry(answer, now)];
      const receivedAt = answer.fetchedAt !== null && answer.fetchedAt < now ? answer.fetchedAt : now;
      return [ref, { ...answer, receivedAt }];
    });
  }

  /** Errors still in force, each on the signals it names (none named: every signal of the vehicle). */
  private errorEntries(event: EventOf<'error'>, now: number): [ReadingRef, CachedReading][] {
    const out = new Map<SignalName, CachedReading>();
    for (const e of event.errors) {
      if (e.state === 'RESOLVED') continue;
      const failure = failureEntry(signalError({ type: e.type, code: e.code, resolution: e.resolution }, null), now);
      for (const signal of this.signalsOf(e.signals)) out.set(signal, failure);
    }
    return [...out].map(([signal, r]) => [this.ref(event.vehicleId, signal), r]);
  }

  private resolvedRefs(event: EventOf<'error'>): ReadingRef[] {
    const signals = new Set(event.errors.filter((e) => e.state === 'RESOLVED').flatMap((e) => this.signalsOf(e.signals)));
    return [...signals].map((s) => this.ref(event.vehicleId, s));
  }

  private signalsOf(codes: string[]): SignalName[] {
    return codes.length ? signalsOfCodes(codes) : signalsWithCodes();
  }
}

/** An error in the cache's terms: it replaces what is held, and any dated reading of the car replaces it. */
function failureEntry(error: UpstreamError, now: number): CachedReading {
  return { values: {}, dataAge: null, fetchedAt: null, receivedAt: now, failure: { status: error.status, details: error.details } };
}

import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuthState } from '../auth.state';
import type { Connection } from '../connections';
import type { ResolvedOptions } from '../options';
import type { AppTokens, V3App } from './app.tokens';
import { docUrl, v3Errors } from './errors';
import type { SignalResource } from './signals';
import { signalsOf, vehicleAttributes, type Unreported } from './vehicle.view';

/**
 * Smartcar's webhooks (payload version 4.0): each application has one webhook; its URL is the
 * `webhookUrl` setting. Setting or changing the URL sends `VERIFY` (the answer must be the HMAC of
 * the challenge); only a verified webhook gets events, and verifying it sends `FIRST_DELIVERY` to
 * every vehicle subscribed. Events: `VEHICLE_STATE` (every signal, `SIGNAL_UPDATED` triggers for
 * the ones that changed since the last delivery to that subscription) when a subscribed car's
 * signals change (a command, or the periodic poll) and `VEHICLE_ERROR` when its errors appear or
 * resolve. Each body is signed (`SC-Signature`, hex HMAC-SHA256 of the exact bytes, keyed with the
 * management token). Delivery is at least once: attempts at 0, +25, +50, +100 s (scaled), same
 * `eventId`, new `deliveryId`; then dropped. Nothing is queued while the webhook is not verified.
 */

export interface Subscription {
  id: string;
  applicationId: string;
  webhookId: string;
  userId: string;
  vehicleId: string;
  createdAt: number;
}

export interface DeliveryRecord {
  eventId: string;
  eventType: string;
  deliveryId: string;
  attempt: number;
  /** HTTP status of the answer; 0: none (timeout, connection error). */
  status: number;
  vehicleId: string | null;
  at: string;
}

export type WebhookStatus = 'none' | 'pending' | 'verified' | 'failed';

interface Hook {
  url: string | null;
  status: WebhookStatus;
  /** Why VERIFY failed (a wrong hash shows in Smartcar's dashboard as 424). */
  problem: string | null;
  /** `reorder` fault: the event held back until the next one. */
  held: { event: WebhookEvent; timer: NodeJS.Timeout } | null;
}

interface WebhookEvent {
  eventId: string;
  eventType: 'VERIFY' | 'VEHICLE_STATE' | 'VEHICLE_ERROR';
  vehicleId: string | null;
  data: object;
  triggers?: object[];
  /** Meta fields other than `deliveryId` and `deliveredAt`. */
  meta: Record<string, unknown>;
}

interface ErrorGroup {
  type: string;
  code: string | null;
  description: string;
  resolution: { type: string | null };
  signals: { name: string; group: string; code: string }[];
}

/** Smartcar's schedule: 4 attempts, the next +25 s, +50 s, +100 s after the previous. */
export const RETRY_DELAYS_SEC = [25, 50, 100];
const ANSWER_BUDGET_MS = 15_000;
const MAX_LOG = 1000;

export function sign(managementToken: string, body: string): string {
  return createHmac('sha256', managementToken).update(body).digest('hex');
}

const signalKey = (s: SignalResource) => ({ name: s.attributes.name, group: s.attributes.group, code: s.attributes.code });

/** The errors of a snapshot, one group per (type, code), with the signals each one hits. */
export function errorGroups(signals: SignalResource[]): Map<string, ErrorGroup> {
  const groups = new Map<string, ErrorGroup>();
  for (const s of signals) {
    const st = s.attributes.status;
    if (st.value !== 'ERROR') continue;
    const key = `${st.error.type}:${st.error.code}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { type: st.error.type, code: st.error.code, description: st.error.description, resolution: st.error.resolution, signals: [] }));
    g.signals.push(signalKey(s));
  }
  return groups;
}

/** Signal code → what a change is judged on (status and body; never the timestamps). */
export function valuesOf(signals: SignalResource[]): Map<string, string> {
  return new Map(signals.map((s) => [s.attributes.code, JSON.stringify([s.attributes.status, s.attributes.body])]));
}

export class Webhooks {
  private readonly subs = new Map<string, Subscription>();
  private readonly hooks = new Map<string, Hook>();
  private readonly lastValues = new Map<string, Map<string, string>>();
  private readonly lastErrors = new Map<string, Map<string, ErrorGroup>>();
  private readonly log: DeliveryRecord[] = [];
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private poller: { every: number; timer: NodeJS.Timeout } | null = null;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly tokens: AppTokens,
    private readonly auth: AuthState,
    private readonly unreported: Unreported,
  ) {
    auth.connections.onRemove((c) => {
      for (const s of this.subs.values()) if (s.applicationId === c.applicationId && s.userId === c.user.id && s.vehicleId === c.vehicle.id) this.remove(s.id);
    });
  }

  // ---- subscriptions (`/v3/subscriptions`) -------------------------------------------------------

  subscribe(app: V3App, a: { webhookId: string; userId: string; vehicleId: string }): { created: boolean; subscription: Subscription } {
    if (a.webhookId !== app.credentials.webhookId) throw v3Errors.notFound();
    if (!this.auth.connections.find(app.applicationId, a.userId, a.vehicleId)) throw v3Errors.vehicleNotFound(a.vehicleId);
    const existing = this.list(app.applicationId, a);
    if (existing.length > 0) return { created: false, subscription: existing[0]! };
    const subscription: Subscription = { id: randomUUID(), applicationId: app.applicationId, ...a, createdAt: this.opts.now() };
    this.subs.set(subscription.id, subscription);
    if (this.hook(app.applicationId).status === 'verified') this.firstDelivery(app, subscription);
    return { created: true, subscription };
  }

  list(applicationId: string, f: { webhookId?: string; userId?: string; vehicleId?: string } = {}): Subscription[] {
    return [...this.subs.values()].filter(
      (s) =>
        s.applicationId === applicationId &&
        (f.webhookId === undefined || s.webhookId === f.webhookId) &&
        (f.userId === undefined || s.userId === f.userId) &&
        (f.vehicleId === undefined || s.vehicleId === f.vehicleId),
    );
  }

  get(applicationId: string, id: string): Subscription | undefined {
    const s = this.subs.get(id);
    return s?.applicationId === applicationId ? s : undefined;
  }

  remove(id: string): boolean {
    this.lastValues.delete(id);
    this.lastErrors.delete(id);
    return this.subs.delete(id);
  }

  // ---- configuration ----------------------------------------------------------------------------

  status(applicationId: string): { url: string | null; status: WebhookStatus; problem: string | null } {
    const h = this.hook(applicationId);
    return { url: h.url, status: h.status, problem: h.problem };
  }

  deliveries(): DeliveryRecord[] {
    return [...this.log];
  }

  /** Applies the settings: a new URL is verified; the poll follows `webhookPollMs`. */
  sync(): void {
    for (const app of this.tokens.apps()) {
      const h = this.hook(app.applicationId);
      if (h.url === this.opts.webhookUrl) continue;
      h.url = this.opts.webhookUrl;
      h.status = h.url === null ? 'none' : 'pending';
      h.problem = null;
      if (h.url !== null) this.track(this.verify(app, h, h.url));
    }
    const every = this.opts.webhookPollMs;
    if (this.poller?.every === every) return;
    if (this.poller) clearInterval(this.poller.timer);
    this.poller = null;
    if (every > 0) {
      const timer = setInterval(() => this.poll(), every);
      timer.unref();
      this.poller = { every, timer };
    }
  }

  /** Sends VERIFY again (the dashboard's "Verify this webhook"). */
  reverify(app: V3App): void {
    const h = this.hook(app.applicationId);
    if (h.url === null) return;
    h.status = 'pending';
    this.track(this.verify(app, h, h.url));
  }

  // ---- events -----------------------------------------------------------------------------------

  /** A car's state may have changed (a command ran): the subscriptions of it get what changed. */
  vehicleChanged(applicationId: string, vehicleId: string): void {
    const app = this.tokens.app(applicationId);
    if (!app) return;
    for (const s of this.list(applicationId, { vehicleId })) this.update(app, s, false);
  }

  /** `POST /__simulator/vehicles/:id/webhook`: one VEHICLE_STATE per subscription of that car now. Returns how many. */
  sendNow(vehicleId: string): number {
    let n = 0;
    for (const app of this.tokens.apps()) {
      for (const s of this.list(app.applicationId, { vehicleId })) n += this.update(app, s, true) ? 1 : 0;
    }
    return n;
  }

  async stop(): Promise<void> {
    if (this.poller) clearInterval(this.poller.timer);
    for (const h of this.hooks.values()) if (h.held) clearTimeout(h.held.timer);
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private poll(): void {
    for (const app of this.tokens.apps()) for (const s of this.list(app.applicationId)) this.update(app, s, false);
  }

  private hook(applicationId: string): Hook {
    let h = this.hooks.get(applicationId);
    if (!h) this.hooks.set(applicationId, (h = { url: null, status: 'none', problem: null, held: null }));
    return h;
  }

  private connectionOf(s: Subscription): Connection | undefined {
    return this.auth.connections.find(s.applicationId, s.userId, s.vehicleId);
  }

  private firstDelivery(app: V3App, s: Subscription): void {
    const c = this.connectionOf(s);
    if (!c) return;
    const signals = signalsOf(this.auth, this.unreported, c, this.opts.now());
    this.lastValues.set(s.id, valuesOf(signals));
    this.emit(app, this.stateEvent(app, c, signals, [{ type: 'FIRST_DELIVERY' }]));
    this.errorsChanged(app, s, c, signals);
  }

  /** Sends what changed since the last delivery (`forced`: a VEHICLE_STATE even if nothing did). */
  private update(app: V3App, s: Subscription, forced: boolean): boolean {
    const c = this.connectionOf(s);
    if (!c || this.hook(app.applicationId).status !== 'verified') return false;
    const signals = signalsOf(this.auth, this.unreported, c, this.opts.now());
    const before = this.lastValues.get(s.id) ?? new Map<string, string>();
    const now = valuesOf(signals);
    this.lastValues.set(s.id, now);
    let changed = signals.filter((x) => before.get(x.attributes.code) !== now.get(x.attributes.code));
    if (changed.length === 0 && forced) changed = signals.filter((x) => x.attributes.status.value === 'SUCCESS');
    if (changed.length > 0) {
      this.emit(app, this.stateEvent(app, c, signals, changed.map((x) => ({ type: 'SIGNAL_UPDATED', signal: signalKey(x) }))));
    }
    this.errorsChanged(app, s, c, signals);
    return changed.length > 0;
  }

  private errorsChanged(app: V3App, s: Subscription, c: Connection, signals: SignalResource[]): void {
    const before = this.lastErrors.get(s.id) ?? new Map<string, ErrorGroup>();
    const now = errorGroups(signals);
    this.lastErrors.set(s.id, now);
    const item = (g: ErrorGroup, state: 'ERROR' | 'RESOLVED') => ({
      type: g.type, code: g.code, description: g.description, docURL: docUrl(g.type, g.code), resolution: g.resolution, state, signals: g.signals,
    });
    const errors = [
      ...[...now].filter(([k]) => !before.has(k)).map(([, g]) => item(g, 'ERROR')),
      ...[...before].filter(([k]) => !now.has(k)).map(([, g]) => item(g, 'RESOLVED')),
    ];
    if (errors.length === 0) return;
    this.emit(app, {
      eventId: randomUUID(),
      eventType: 'VEHICLE_ERROR',
      vehicleId: c.vehicle.id,
      data: { user: this.userOf(c), vehicle: this.vehicleOf(c), errors },
      meta: this.metaOf(app, c, null),
    });
  }

  private userOf(c: Connection) {
    const externalId = this.auth.connections.externalIdOf(c.applicationId, c.user.id);
    return { id: c.user.id, ...(externalId !== null && { externalId }) };
  }

  private vehicleOf(c: Connection) {
    return { id: c.vehicle.id, ...vehicleAttributes(c) };
  }

  private metaOf(app: V3App, c: Connection, signalCount: number | null): Record<string, unknown> {
    return {
      version: '4.0',
      webhookId: app.credentials.webhookId,
      webhookName: app.credentials.webhookName,
      ...(signalCount !== null && { signalCount }),
      mode: c.mode === 'live' ? 'LIVE' : 'TEST',
    };
  }

  private stateEvent(app: V3App, c: Connection, signals: SignalResource[], triggers: object[]): WebhookEvent {
    const body = signals.map((s) => ({
      code: s.attributes.code, name: s.attributes.name, group: s.attributes.group,
      ...(s.attributes.body !== undefined && { body: s.attributes.body }),
      status: s.attributes.status,
      ...(s.meta && { meta: s.meta }),
    }));
    return {
      eventId: randomUUID(),
      eventType: 'VEHICLE_STATE',
      vehicleId: c.vehicle.id,
      data: { user: this.userOf(c), vehicle: this.vehicleOf(c), signals: body },
      triggers,
      meta: this.metaOf(app, c, body.length),
    };
  }

  // ---- delivery ---------------------------------------------------------------------------------

  /** Hands an event to delivery, through the `webhookFault` in force. */
  private emit(app: V3App, event: WebhookEvent): void {
    const h = this.hook(app.applicationId);
    switch (this.opts.webhookFault) {
      case 'duplicate':
        this.track(this.deliver(app, event).then(() => this.deliver(app, event)));
        return;
      case 'reorder': {
        const held = h.held;
        if (!held) {
          const timer = setTimeout(() => {
            h.held = null;
            this.track(this.deliver(app, event));
          }, 1000);
          timer.unref();
          h.held = { event, timer };
          return;
        }
        clearTimeout(held.timer);
        h.held = null;
        this.track(this.deliver(app, event).then(() => this.deliver(app, held.event)));
        return;
      }
      case 'none':
        this.track(this.deliver(app, event));
    }
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** One POST; resolves with the answer's status (0: none) and body text. */
  private async post(app: V3App, url: string, event: WebhookEvent, attempt: number, deliveredAt: unknown): Promise<{ status: number; text: string }> {
    const deliveryId = randomUUID();
    const { vehicleId: _vehicleId, meta, ...rest } = event;
    const body = JSON.stringify({ ...rest, meta: { ...meta, deliveryId, deliveredAt } });
    const record: DeliveryRecord = { eventId: event.eventId, eventType: event.eventType, deliveryId, attempt, status: 0, vehicleId: event.vehicleId, at: new Date(this.opts.now()).toISOString() };
    const budget = Math.max(1000, ANSWER_BUDGET_MS * this.opts.webhookRetryScale);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'sc-signature': sign(app.credentials.managementToken, body), 'user-agent': 'Smartcar/4.0 (simulator)' },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(budget)]),
      });
      record.status = res.status;
      return { status: res.status, text: await res.text() };
    } catch {
      return { status: 0, text: '' };
    } finally {
      this.log.push(record);
      if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
    }
  }

  private async deliver(app: V3App, event: WebhookEvent): Promise<void> {
    for (let attempt = 1; attempt <= RETRY_DELAYS_SEC.length + 1; attempt++) {
      const h = this.hook(app.applicationId);
      if (h.status !== 'verified' || h.url === null || this.abort.signal.aborted) return;
      const { status } = await this.post(app, h.url, event, attempt, this.opts.now());
      if (status >= 200 && status < 300) return;
      const delay = RETRY_DELAYS_SEC[attempt - 1];
      if (delay === undefined) return;
      try {
        await sleep(delay * 1000 * this.opts.webhookRetryScale, undefined, { signal: this.abort.signal });
      } catch {
        return;
      }
    }
  }

  private async verify(app: V3App, h: Hook, url: string): Promise<void> {
    const challenge = randomBytes(16).toString('hex');
    const event: WebhookEvent = {
      eventId: randomUUID(),
      eventType: 'VERIFY',
      vehicleId: null,
      data: { challenge },
      meta: { version: '4.0', webhookId: app.credentials.webhookId, webhookName: app.credentials.webhookName },
    };
    const { status, text } = await this.post(app, url, event, 1, new Date(this.opts.now()).toISOString());
    if (h.url !== url) return;
    let answer: unknown;
    try {
      answer = (JSON.parse(text) as { challenge?: unknown }).challenge;
    } catch {
      answer = undefined;
    }
    if (status === 200 && answer === sign(app.credentials.managementToken, challenge)) {
      h.status = 'verified';
      for (const s of this.list(app.applicationId)) this.firstDelivery(app, s);
      return;
    }
    h.status = 'failed';
    h.problem = status === 200 ? 'verification request responded with an invalid hash (424)' : `verification request answered ${status || 'nothing'}`;
  }
}

import { randomBytes, randomUUID } from 'node:crypto';
import type { AuthState } from '../auth.state';
import type { Connection } from '../connections';
import type { ResolvedOptions } from '../options';
import type { AppTokens, V3App } from './app.tokens';
import { v3Errors } from './errors';
import { Delivery, type DeliveryRecord, type Target } from './webhook.delivery';
import { errorChanges, errorEvent, errorGroups, sign, signalRef, stateEvent, valuesOf, verifyEvent, type ErrorGroup, type WebhookEvent } from './webhook.payloads';
import { signalsOf, type Unreported } from './vehicle.view';

/**
 * Smartcar's webhooks: each application has one webhook; its URL is the `webhookUrl` setting.
 * Setting or changing the URL sends `VERIFY` (the answer must be the HMAC of the challenge); only a
 * verified webhook gets events, and verifying it sends `FIRST_DELIVERY` to every vehicle subscribed
 * (as subscribing does). Then `VEHICLE_STATE` (every signal, a `SIGNAL_UPDATED` trigger per signal
 * changed since the last delivery to that subscription) when a subscribed car changes (a v2 or v3
 * command at once, anything at the periodic poll), and `VEHICLE_ERROR` when its errors appear or
 * resolve. Nothing is queued while the webhook is not verified.
 */

export interface Subscription {
  id: string;
  applicationId: string;
  webhookId: string;
  userId: string;
  vehicleId: string;
  createdAt: number;
}

export type WebhookStatus = 'none' | 'pending' | 'verified' | 'failed';

interface Hook {
  url: string | null;
  status: WebhookStatus;
  /** Why VERIFY failed (a wrong hash shows in Smartcar's dashboard as 424). */
  problem: string | null;
}

export class Webhooks {
  private readonly subs = new Map<string, Subscription>();
  private readonly hooks = new Map<string, Hook>();
  private readonly lastValues = new Map<string, Map<string, string>>();
  private readonly lastErrors = new Map<string, Map<string, ErrorGroup>>();
  private readonly delivery: Delivery;
  private poller: { every: number; timer: NodeJS.Timeout } | null = null;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly tokens: AppTokens,
    private readonly auth: AuthState,
    private readonly unreported: Unreported,
  ) {
    this.delivery = new Delivery(opts);
    auth.connections.onRemove((c) => {
      for (const s of this.list(c.applicationId, { userId: c.user.id, vehicleId: c.vehicle.id })) this.remove(s.id);
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

  status(applicationId: string): Hook {
    return { ...this.hook(applicationId) };
  }

  deliveries(): DeliveryRecord[] {
    return this.delivery.records();
  }

  /** Applies the settings: a new URL is verified; the poll follows `webhookPollMs`. */
  sync(): void {
    for (const app of this.tokens.apps()) {
      const h = this.hook(app.applicationId);
      if (h.url === this.opts.webhookUrl) continue;
      h.url = this.opts.webhookUrl;
      h.status = h.url === null ? 'none' : 'pending';
      h.problem = null;
      if (h.url !== null) void this.verify(app, h, h.url);
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
    void this.verify(app, h, h.url);
  }

  // ---- events -----------------------------------------------------------------------------------

  /** A car's state may have changed (a command ran): its subscriptions get what changed. */
  vehicleChanged(applicationId: string, vehicleId: string): void {
    const app = this.tokens.app(applicationId);
    if (!app) return;
    for (const s of this.list(applicationId, { vehicleId })) this.update(app, s, false);
  }

  /** A v2 command ran on this car: every application's subscriptions of it get what changed. */
  carChanged(vehicleId: string): void {
    for (const app of this.tokens.apps()) this.vehicleChanged(app.applicationId, vehicleId);
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
    await this.delivery.stop();
  }

  private poll(): void {
    for (const app of this.tokens.apps()) for (const s of this.list(app.applicationId)) this.update(app, s, false);
  }

  private hook(applicationId: string): Hook {
    let h = this.hooks.get(applicationId);
    if (!h) this.hooks.set(applicationId, (h = { url: null, status: 'none', problem: null }));
    return h;
  }

  private target(app: V3App): Target {
    return () => {
      const h = this.hook(app.applicationId);
      return h.status === 'verified' && h.url !== null ? { url: h.url, managementToken: app.credentials.managementToken } : null;
    };
  }

  private emit(app: V3App, event: WebhookEvent): void {
    this.delivery.emit(app.applicationId, this.target(app), event);
  }

  private snapshot(s: Subscription): { c: Connection; externalId: string | null; signals: ReturnType<typeof signalsOf> } | null {
    const c = this.auth.connections.find(s.applicationId, s.userId, s.vehicleId);
    if (!c) return null;
    return { c, externalId: this.auth.connections.externalIdOf(c.applicationId, c.user.id), signals: signalsOf(this.auth, this.unreported, c, this.opts.now()) };
  }

  private firstDelivery(app: V3App, s: Subscription): void {
    const snap = this.snapshot(s);
    if (!snap) return;
    this.lastValues.set(s.id, valuesOf(snap.signals));
    this.emit(app, stateEvent(app, snap.c, snap.externalId, snap.signals, [{ type: 'FIRST_DELIVERY' }]));
    this.errorsChanged(app, s, snap);
  }

  /** Sends what changed since the last delivery (`forced`: a VEHICLE_STATE even if nothing did). */
  private update(app: V3App, s: Subscription, forced: boolean): boolean {
    const snap = this.hook(app.applicationId).status === 'verified' ? this.snapshot(s) : null;
    if (!snap) return false;
    const before = this.lastValues.get(s.id) ?? new Map<string, string>();
    const now = valuesOf(snap.signals);
    this.lastValues.set(s.id, now);
    let changed = snap.signals.filter((x) => before.get(x.attributes.code) !== now.get(x.attributes.code));
    if (changed.length === 0 && forced) changed = snap.signals.filter((x) => x.attributes.status.value === 'SUCCESS');
    if (changed.length > 0) {
      this.emit(app, stateEvent(app, snap.c, snap.externalId, snap.signals, changed.map((x) => ({ type: 'SIGNAL_UPDATED', signal: signalRef(x) }))));
    }
    this.errorsChanged(app, s, snap);
    return changed.length > 0;
  }

  private errorsChanged(app: V3App, s: Subscription, snap: NonNullable<ReturnType<Webhooks['snapshot']>>): void {
    const now = errorGroups(snap.signals);
    const errors = errorChanges(this.lastErrors.get(s.id) ?? new Map(), now);
    this.lastErrors.set(s.id, now);
    if (errors.length > 0) this.emit(app, errorEvent(app, snap.c, snap.externalId, errors));
  }

  /**
   * VERIFY, retried on the delivery schedule while nobody answers (a receiver that is not listening
   * yet, e.g. a gateway starting after its simulator); an answer, right or wrong, is final.
   */
  private async verify(app: V3App, h: Hook, url: string): Promise<void> {
    const challenge = randomBytes(16).toString('hex');
    const event = verifyEvent(app, challenge);
    let answered: { status: number; text: string };
    for (let attempt = 1; ; attempt++) {
      answered = await this.delivery.once(url, app.credentials.managementToken, event, attempt, new Date(this.opts.now()).toISOString());
      if (h.url !== url) return;
      if (answered.status !== 0 || !(await this.delivery.pause(attempt)) || h.url !== url) break;
    }
    const { status, text } = answered;
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

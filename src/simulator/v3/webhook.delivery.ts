import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedOptions } from '../options';
import { bodyOf, sign, type WebhookEvent } from './webhook.payloads';

/**
 * Sending webhook events: one POST per attempt (signed, new `deliveryId` and `deliveredAt`),
 * Smartcar's retries, and the `webhookFault` modes. At least once: an event is retried until a 2xx
 * or until the schedule runs out, then dropped; a stop aborts whatever is pending.
 */

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

/** Where to send, checked before every attempt (`null`: the webhook is not active any more). */
export type Target = () => { url: string; managementToken: string } | null;

/** Smartcar's schedule: 4 attempts, the next +25 s, +50 s, +100 s after the previous. */
export const RETRY_DELAYS_SEC = [25, 50, 100];
const ANSWER_BUDGET_MS = 15_000;
const MAX_LOG = 1000;
/** `reorder`: how long an event waits for a next one to overtake it. */
const HOLD_MS = 1000;

export class Delivery {
  private readonly log: DeliveryRecord[] = [];
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** `reorder`: per target key, the event held back until the next one. */
  private readonly held = new Map<string, { send: () => Promise<void>; timer: NodeJS.Timeout }>();

  constructor(private readonly opts: ResolvedOptions) {}

  records(): DeliveryRecord[] {
    return [...this.log];
  }

  /** Hands an event to delivery, through the fault mode in force. `key` groups what can be reordered. */
  emit(key: string, target: Target, event: WebhookEvent): void {
    const send = () => this.deliver(target, event);
    switch (this.opts.webhookFault) {
      case 'duplicate':
        this.track(send().then(send));
        return;
      case 'reorder': {
        const held = this.held.get(key);
        if (held) {
          clearTimeout(held.timer);
          this.held.delete(key);
          this.track(send().then(held.send));
          return;
        }
        const timer = setTimeout(() => {
          this.held.delete(key);
          this.track(send());
        }, HOLD_MS);
        timer.unref();
        this.held.set(key, { send, timer });
        return;
      }
      case 'none':
        this.track(send());
    }
  }

  /** One attempt (VERIFY); resolves with the answer's status (0: none) and text. */
  once(url: string, managementToken: string, event: WebhookEvent, attempt: number, deliveredAt: unknown): Promise<{ status: number; text: string }> {
    const p = this.post(url, managementToken, event, attempt, deliveredAt);
    this.track(p);
    return p;
  }

  async stop(): Promise<void> {
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async deliver(target: Target, event: WebhookEvent): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const t = target();
      if (!t || this.abort.signal.aborted) return;
      const { status } = await this.post(t.url, t.managementToken, event, attempt, this.opts.now());
      if (status >= 200 && status < 300) return;
      if (!(await this.pause(attempt))) return;
    }
  }

  /** Waits for the retry after `attempt` on Smartcar's schedule; false when there is none (or on stop). */
  async pause(attempt: number): Promise<boolean> {
    const delay = RETRY_DELAYS_SEC[attempt - 1];
    if (delay === undefined) return false;
    try {
      await sleep(delay * 1000 * this.opts.webhookRetryScale, undefined, { signal: this.abort.signal });
      return true;
    } catch {
      return false;
    }
  }

  private async post(url: string, managementToken: string, event: WebhookEvent, attempt: number, deliveredAt: unknown): Promise<{ status: number; text: string }> {
    const deliveryId = randomUUID();
    const body = bodyOf(event, deliveryId, deliveredAt);
    const record: DeliveryRecord = { eventId: event.eventId, eventType: event.eventType, deliveryId, attempt, status: 0, vehicleId: event.vehicleId, at: new Date(this.opts.now()).toISOString() };
    // Smartcar allows 15 s; scaled for tests, but never under 1 s (a busy test machine is slow).
    const budget = Math.max(1000, ANSWER_BUDGET_MS * this.opts.webhookRetryScale);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'sc-signature': sign(managementToken, body), 'user-agent': 'Smartcar/4.0 (simulator)' },
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
}

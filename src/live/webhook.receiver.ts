import type { Logger } from '../logger';
import type { EventLedger } from './event-ledger';
import { challengeAnswer, parseWebhookEvent, signatureMatches, WebhookPayloadError, type WebhookEvent } from './webhook.event';

/**
 * `POST /webhooks/smartcar`, whatever the HTTP framework: the raw body and its `SC-Signature` in, a
 * status and a JSON body out. Nothing is acted upon before its signature is checked on the raw bytes
 * (an unsigned body writes nothing; only a VERIFY, whose answer itself proves we hold the key, is
 * answered unsigned, since Smartcar may not sign it); each event is applied
 * once (the ledger); and the answer comes within Smartcar's 15 s: events beyond what can be applied
 * in time are refused with a 503, which Smartcar retries, rather than queued without bound.
 */

export type EventOf<K extends WebhookEvent['kind']> = Extract<WebhookEvent, { kind: K }>;

/** Applies a vehicle event (readings into the cache, an error onto the connection). */
export type ApplyEvent = (event: EventOf<'state'> | EventOf<'error'>) => Promise<void>;

export type Outcome = 'verified' | 'applied' | 'duplicate' | 'in_progress' | 'test' | 'ignored' | 'bad_signature' | 'bad_payload' | 'busy' | 'failed';

export interface WebhookAnswer {
  status: number;
  body: Record<string, unknown>;
  outcome: Outcome;
  /** The event's type as a metric label: VERIFY, VEHICLE_STATE, VEHICLE_ERROR, other, or unknown (not read). */
  type: string;
}

export interface ReceiverOptions {
  /** The application management token: the HMAC key of `SC-Signature` and of the VERIFY answer. */
  managementToken: string;
  /** Events applied at once; more wait, up to `maxQueued`. */
  concurrency: number;
  maxQueued: number;
  /** An apply still running after this answers 500 (Smartcar retries; the ledger keeps it single). */
  applyTimeoutMs: number;
  /**
   * Whether `meta.mode: TEST` deliveries are acted upon: yes for a gateway in test or simulated mode
   * (its own vehicles are test vehicles), no in live mode (there they are the dashboard's test events).
   */
  actOnTest: boolean;
}

const answer = (status: number, outcome: Outcome, type = 'unknown', body: Record<string, unknown> = { ok: status < 300 }): WebhookAnswer => ({ status, body, outcome, type });

const typeOf = (event: WebhookEvent): string => (event.kind === 'verify' ? 'VERIFY' : event.kind === 'state' ? 'VEHICLE_STATE' : event.kind === 'error' ? 'VEHICLE_ERROR' : 'other');

export class WebhookReceiver {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly ledger: EventLedger,
    private readonly apply: ApplyEvent,
    private readonly options: ReceiverOptions,
    private readonly logger: Logger,
  ) {}

  async handle(raw: Buffer, signature: string | undefined): Promise<WebhookAnswer> {
    const signed = signatureMatches(raw, signature, this.options.managementToken);
    let event: WebhookEvent;
    try {
      event = parseWebhookEvent(JSON.parse(raw.toString('utf8')));
    } catch (err) {
      if (!signed) return answer(401, 'bad_signature', 'unknown', { error: 'bad signature' });
      const reason = err instanceof WebhookPayloadError ? err.message : 'the body is not JSON';
      this.logger.warn({ reason }, 'webhook refused: not a Smartcar event');
      return answer(400, 'bad_payload', 'unknown', { error: reason });
    }
    const type = typeOf(event);
    // VERIFY may come unsigned (sources disagree); its answer proves we hold the key, so it is safe.
    if (event.kind === 'verify') return answer(200, 'verified', type, challengeAnswer(event.challenge, this.options.managementToken));
    if (!signed) {
      this.logger.warn({ eventId: event.eventId }, 'webhook refused: SC-Signature does not match the body (check SMARTCAR_MANAGEMENT_TOKEN)');
      return answer(401, 'bad_signature', type, { error: 'bad signature' });
    }
    if (event.kind === 'other') return answer(200, 'ignored', type);
    if (event.mode === 'TEST' && !this.options.actOnTest) return answer(200, 'test', type);
    return { ...(await this.once(event)), type };
  }

  private async once(event: EventOf<'state'> | EventOf<'error'>): Promise<WebhookAnswer> {
    const slot = this.slot();
    if (!slot) return answer(503, 'busy', undefined, { error: 'busy: retry later' });
    try {
      await slot;
      const claim = await this.ledger.claim(event.eventId);
      if (claim === 'done') return answer(200, 'duplicate');
      if (claim === 'in_progress') return answer(503, 'in_progress', undefined, { error: 'this event is being applied: retry later' });
      try {
        await withTimeout(this.apply(event), this.options.applyTimeoutMs);
      } catch (err) {
        // Released so that Smartcar's retry applies it; a late finish of this one is harmless (newer readings only).
        await this.ledger.release(event.eventId).catch(() => undefined);
        throw err;
      }
      await this.ledger.done(event.eventId);
      return answer(200, 'applied');
    } catch (err) {
      this.logger.error({ eventId: event.eventId, err: { name: (err as Error).name, message: (err as Error).message } }, 'webhook not applied: Smartcar will retry it');
      return answer(500, 'failed', undefined, { error: 'not applied: retry later' });
    } finally {
      this.leave();
    }
  }

  /**
   * A turn to apply an event: at once while fewer than `concurrency` run, after a wait while fewer
   * than `maxQueued` wait, else null (refused now rather than answered after Smartcar gave up).
   */
  private slot(): Promise<void> | null {
    if (this.running < this.options.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.options.maxQueued) return null;
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Hands the turn to the next waiting event, or frees it. */
  private leave(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not applied within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

import { createHmac, timingSafeEqual } from 'node:crypto';
import { epochMs } from '../smartcar/v3.mapping';

/**
 * Smartcar's webhook deliveries, read tolerantly: payload 4.0 as documented, the pre-4.0 ("3.0")
 * forms seen in captures, and the legacy 2.0 VERIFY. Pure: verification of the raw bytes, and the
 * event in the gateway's own terms; what to do with it is the receiver's business.
 */

/** Lower-hex HMAC-SHA256 of `message` keyed with the application management token. */
export function hmacHex(key: string, message: string | Buffer): string {
  return createHmac('sha256', key).update(message).digest('hex');
}

/**
 * `SC-Signature` checked against the raw body in constant time. Tolerant of upper-case hex and a
 * `sha256=` prefix; anything that is not 64 hex digits is a mismatch.
 */
export function signatureMatches(rawBody: Buffer, header: string | undefined, key: string): boolean {
  const given = header?.trim().replace(/^sha256=/i, '').toLowerCase();
  if (!given || !/^[0-9a-f]{64}$/.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(hmacHex(key, rawBody), 'hex'));
}

/** What a `VERIFY` is answered with: `{"challenge": <hex HMAC of the challenge>}`. */
export const challengeAnswer = (challenge: string, key: string) => ({ challenge: hmacHex(key, challenge) });

export interface SignalItem {
  code: string;
  /** The value as Smartcar sent it (`{value, unit}`, `{latitude, longitude}`, …); null when none. */
  body: unknown;
  /** `SUCCESS`, `ERROR`, or whatever else Smartcar sends. */
  status: string;
  error: { type: string | null; code: string | null } | null;
  /** Epoch ms; null when absent (error items carry no meta). */
  oemUpdatedAt: number | null;
  retrievedAt: number | null;
}

export interface ErrorItem {
  type: string | null;
  code: string | null;
  description: string | null;
  resolution: string | null;
  /** `ERROR`, or `RESOLVED` once the condition has passed. */
  state: string;
  signals: string[];
}

interface Delivery {
  eventId: string;
  /** `TEST` deliveries are acknowledged and not acted upon. */
  mode: 'LIVE' | 'TEST';
  vehicleId: string;
  userId: string | null;
}

export type WebhookEvent =
  | { kind: 'verify'; eventId: string | null; challenge: string }
  | (Delivery & { kind: 'state'; signals: SignalItem[]; triggers: string[]; vehicle: Record<string, unknown> | null })
  | (Delivery & { kind: 'error'; errors: ErrorItem[] })
  | { kind: 'other'; eventId: string | null; eventType: string };

export class WebhookPayloadError extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);


/** A signal named by code, or by `{code}`, or by `Group.Name` / `{name, group}` (lower-cased into a code). */
function signalCode(v: unknown): string | null {
  if (typeof v === 'string') return v.includes('.') ? v.replace('.', '-').toLowerCase() : str(v);
  const o = obj(v);
  return str(o.code) ?? (str(o.group) && str(o.name) ? `${String(o.group)}-${String(o.name)}`.toLowerCase() : null);
}

function signalItem(v: unknown): SignalItem | null {
  const o = obj(v);
  const code = signalCode(o);
  if (!code) return null;
  const status = obj(o.status);
  const error = isObj(status.error) ? { type: str(status.error.type), code: str(status.error.code) } : null;
  const meta = obj(o.meta);
  return {
    code,
    body: o.body ?? null,
    status: str(status.value) ?? (error ? 'ERROR' : 'SUCCESS'),
    error,
    oemUpdatedAt: epochMs(meta.oemUpdatedAt),
    retrievedAt: epochMs(meta.retrievedAt ?? meta.fetchedAt),
  };
}

/** The three shapes of `triggers` (and RA's `data.triggers`): codes, or the trigger type. */
function triggerCodes(v: unknown): string[] {
  return list(v).flatMap((t) => {
    const o = obj(t);
    const named = o.signal === undefined ? signalCode(o) : signalCode(o.signal);
    return [named ?? str(o.type) ?? str(o.code)].filter((c): c is string => c !== null);
  });
}

function errorItem(v: unknown): ErrorItem {
  const o = obj(v);
  const resolution = isObj(o.resolution) ? str(o.resolution.type) : str(o.resolution);
  return {
    type: str(o.type),
    code: str(o.code),
    description: str(o.description),
    resolution,
    state: str(o.state) ?? 'ERROR',
    signals: list(o.signals).map(signalCode).filter((c): c is string => c !== null),
  };
}

/** The event a delivery carries; a body that is not one throws WebhookPayloadError. */
export function parseWebhookEvent(body: unknown): WebhookEvent {
  if (!isObj(body)) throw new WebhookPayloadError('the body is not a JSON object');
  const eventId = str(body.eventId);
  // Legacy 2.0: {version, webhookId, eventName: "verify", payload: {challenge}}.
  if (body.eventName === 'verify') {
    const challenge = str(obj(body.payload).challenge);
    if (!challenge) throw new WebhookPayloadError('VERIFY without a challenge');
    return { kind: 'verify', eventId, challenge };
  }
  const eventType = str(body.eventType);
  if (!eventType) throw new WebhookPayloadError('no eventType');
  const data = obj(body.data);
  if (eventType === 'VERIFY') {
    const challenge = str(data.challenge);
    if (!challenge) throw new WebhookPayloadError('VERIFY without a challenge');
    return { kind: 'verify', eventId, challenge };
  }
  if (eventType !== 'VEHICLE_STATE' && eventType !== 'VEHICLE_ERROR') return { kind: 'other', eventId, eventType };
  const vehicleId = str(obj(data.vehicle).id);
  if (!eventId) throw new WebhookPayloadError(`${eventType} without an eventId`);
  if (!vehicleId) throw new WebhookPayloadError(`${eventType} without data.vehicle.id`);
  const delivery: Delivery = {
    eventId,
    mode: String(obj(body.meta).mode ?? 'LIVE').toUpperCase() === 'TEST' ? 'TEST' : 'LIVE',
    vehicleId,
    userId: str(obj(data.user).id),
  };
  if (eventType === 'VEHICLE_ERROR') return { ...delivery, kind: 'error', errors: list(data.errors).map(errorItem) };
  return {
    ...delivery,
    kind: 'state',
    signals: list(data.signals).map(signalItem).filter((s): s is SignalItem => s !== null),
    // make, model and year when given (the vehicle's attributes, as the v3 vehicle resource has them)
    vehicle: str(obj(data.vehicle).make) ? obj(data.vehicle) : null,
    triggers: triggerCodes(body.triggers ?? data.triggers),
  };
}

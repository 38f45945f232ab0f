import { UpstreamError, type SmartcarDetails } from '../errors';
import { SIGNALS, type FieldKind, type Reading, type SignalName, type Values } from '../vehicles/signal.registry';
import { bool, num, str } from '../vehicles/signal.units';
import type { SignalAnswers } from './smartcar.port';

/**
 * Smartcar v2's vehicle-data answers as domain readings, without I/O: a body's fields are read under
 * their own names (the schema follows Smartcar's keys) and kept only when of their kind; the batch
 * answer is split per signal, each item's failure parsed here.
 */

const EMPTY_DETAILS: SmartcarDetails = { type: null, code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null };

export const v2Path = (name: SignalName): string => SIGNALS[name].v2.path;

const PATHS = new Map<string, SignalName>(Object.entries(SIGNALS).map(([name, s]) => [s.v2.path, name as SignalName]));

const OF_KIND: Record<FieldKind, (v: unknown) => number | boolean | string | null> = { number: num, boolean: bool, string: str };

/** A signal's values from its v2 body; a field missing or of another kind is null. */
export function valuesFromV2(name: SignalName, body: unknown): Values {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const fields = SIGNALS[name].fields as Record<string, { kind: FieldKind }>;
  return Object.fromEntries(Object.entries(fields).map(([field, spec]) => [field, OF_KIND[spec.kind](b[field])]));
}

/** Epoch ms from a Date or a date string (the SDK's meta, a batch item's header). */
export function time(v: unknown): number | null {
  const t = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? t : null;
}

export function readingFromV2(name: SignalName, body: unknown, dataAge: unknown, fetchedAt: unknown): Reading {
  return { values: valuesFromV2(name, body), dataAge: time(dataAge), fetchedAt: time(fetchedAt) };
}

export function retryAfterSeconds(raw: unknown): number | null {
  const n = typeof raw === 'string' || typeof raw === 'number' ? Number(raw) : NaN;
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n) : null;
}

const lowerKeys = (headers: Record<string, unknown> | undefined) => Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));

/** A batch item's failure. Parsed here rather than by the SDK's thunks, which report the batch's
 * status (200) instead of the item's and crash with a TypeError when an item has no headers. */
export function itemError(code: number, body: unknown, headers: Record<string, unknown> | undefined, outerRequestId: string | null): UpstreamError {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const h = lowerKeys(headers);
  const resolution = b.resolution as { type?: string | null } | string | undefined;
  return new UpstreamError('response', code, {
    type: str(b.type) ?? str(b.error),
    code: str(b.code),
    requestId: str(b.requestId) ?? str(h['sc-request-id']) ?? outerRequestId,
    resolution: typeof resolution === 'string' ? resolution : (resolution?.type ?? null),
    suggestedUserMessage: str(b.suggestedUserMessage),
    retryAfter: retryAfterSeconds(h['retry-after'] ?? b.retryAfter),
  });
}

/** Whatever the SDK threw, as an UpstreamError; programming errors are rethrown unchanged. */
export function normalizeSdkError(err: unknown): UpstreamError {
  const e = err as Record<string, unknown> | null;
  if (e && e.name === 'SmartcarError') {
    const status = typeof e.statusCode === 'number' ? e.statusCode : null;
    const resolution = e.resolution as { type?: string | null } | undefined;
    const details: SmartcarDetails = {
      type: typeof e.type === 'string' ? e.type : null,
      code: typeof e.code === 'string' ? e.code : null,
      requestId: typeof e.requestId === 'string' ? e.requestId : null,
      resolution: resolution?.type ?? null,
      suggestedUserMessage: typeof e.suggestedUserMessage === 'string' ? e.suggestedUserMessage : null,
      retryAfter: retryAfterSeconds(e.retryAfter),
    };
    const kind = status === 408 && details.type === null ? 'timeout' : 'response';
    return new UpstreamError(kind, status, details, { cause: err });
  }
  if (e && (e.name === 'TimeoutError' || e.name === 'AbortError')) return new UpstreamError('timeout', null, EMPTY_DETAILS, { cause: err });
  if (e && e.name === 'TypeError' && e.message === 'fetch failed') return new UpstreamError('network', null, EMPTY_DETAILS, { cause: err });
  throw err;
}

/** A signal Smartcar left out of its answer. */
const missingItem = (): UpstreamError => new UpstreamError('response', 502, { ...EMPTY_DETAILS, type: 'UPSTREAM', code: 'MISSING_ITEM' });

interface BatchItem {
  path?: unknown;
  code?: unknown;
  body?: unknown;
  headers?: Record<string, unknown>;
}

/** The answer of `POST /batch` for `names`: each its reading or failure; items not asked for are ignored. */
export function answersFromBatch(names: readonly SignalName[], body: unknown, outerRequestId: string | null): SignalAnswers {
  const out: SignalAnswers = new Map();
  const items = ((body as { responses?: unknown } | null)?.responses ?? []) as BatchItem[];
  for (const item of Array.isArray(items) ? items : []) {
    const name = typeof item?.path === 'string' ? PATHS.get(item.path) : undefined;
    if (name === undefined || !names.includes(name)) continue;
    const h = lowerKeys(item.headers);
    out.set(
      name,
      item.code === 200 || item.code === 204
        ? readingFromV2(name, item.body ?? {}, h['sc-data-age'], h['sc-fetched-at'])
        : itemError(Number(item.code) || 502, item.body, item.headers, outerRequestId),
    );
  }
  for (const n of names) if (!out.has(n)) out.set(n, missingItem());
  return out;
}

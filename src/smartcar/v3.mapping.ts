import { UpstreamError, type SmartcarDetails } from '../errors';
import { SIGNALS, type Reading, type SignalName, type V3Source, type Values } from '../vehicles/signal.registry';
import { num, str, type UnitSystem, type V3Body } from '../vehicles/signal.units';
import type { CommandResult, ConnectionInfo, SignalAnswers } from './smartcar.port';
import { retryAfterSeconds } from './v2.mapping';

/**
 * Smartcar API v3's answers in the domain's terms, without I/O: JSON:API signal pages as readings,
 * the error envelope as UpstreamError, connections, command executions. Tolerant of the variants
 * Smartcar's own documents disagree on (timestamps in ms, s or ISO; `page` or `page[number]`; the
 * vehicle resource with or without its `data` wrapper; an OAuth-style error body).
 */

const EMPTY: SmartcarDetails = { type: null, code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null };

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Epoch ms from epoch ms, epoch seconds (below 1e11), either as a string of digits, or an ISO-8601
 * string (Smartcar's documents and captures show all of them); null for anything else.
 */
export function epochMs(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return Math.round(v < 1e11 ? v * 1000 : v);
  if (typeof v === 'string' && v !== '') {
    if (/^\d+(\.\d+)?$/.test(v)) return epochMs(Number(v));
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : null;
  }
  return null;
}

/** The HTTP status Smartcar gives each error type (a signal's error arrives inside a 200). */
const STATUS_OF_TYPE: Record<string, number> = {
  VALIDATION: 400,
  CONNECTED_SERVICES_ACCOUNT: 400,
  AUTHENTICATION: 401,
  PERMISSION: 403,
  RESOURCE_NOT_FOUND: 404,
  VEHICLE_STATE: 409,
  RATE_LIMIT: 429,
  BILLING: 430,
  SERVER: 500,
  COMPATIBILITY: 501,
  UPSTREAM: 502,
};

const resolutionOf = (v: unknown): string | null => (typeof v === 'string' ? v : str(obj(v).type));

/** One v3 error object (an `errors[]` item, a signal's `status.error`, a failed execution's) as details. */
function detailsOf(e: Obj, requestId: string | null, retryAfter: number | null): SmartcarDetails {
  return {
    type: str(e.type),
    code: str(e.code),
    requestId: str(obj(obj(e.meta).debug).requestId) ?? requestId,
    resolution: resolutionOf(e.resolution),
    suggestedUserMessage: str(e.suggestedUserMessage),
    retryAfter,
  };
}

/**
 * A failed v3 answer: the `errors[]` envelope (its first item), or the token endpoint's
 * `{error, error_description}`, or anything else (an HTML page) judged by its status alone.
 */
export function errorFromV3(status: number, body: unknown, headers: Readonly<Record<string, unknown>>): UpstreamError {
  const b = obj(body);
  const requestId = str(headers['sc-request-id']);
  const retryAfter = retryAfterSeconds(headers['retry-after']);
  const first = obj(list(b.errors)[0]);
  if (Object.keys(first).length) return new UpstreamError('response', status, detailsOf(first, requestId, retryAfter));
  if (typeof b.error === 'string') return new UpstreamError('response', status, { ...EMPTY, type: b.error, requestId, retryAfter });
  return new UpstreamError('response', status, { ...EMPTY, requestId, retryAfter });
}

/** A signal whose `status` is ERROR, as the failure Smartcar would answer for it alone. */
export function signalError(error: unknown, requestId: string | null): UpstreamError {
  const details = detailsOf(obj(error), requestId, null);
  return new UpstreamError('response', (details.type !== null ? STATUS_OF_TYPE[details.type] : undefined) ?? null, details);
}

/** Smartcar has no value of the signal yet (never reported, or `UNAVAILABLE`): unavailable, not our bug. */
export const noValueYet = (requestId: string | null): UpstreamError => new UpstreamError('response', null, { ...EMPTY, requestId });

interface SignalResource {
  status: 'SUCCESS' | 'ERROR' | 'OTHER';
  body: V3Body;
  error: unknown;
  retrievedAt: number | null;
  oemUpdatedAt: number | null;
}

/** Signal resources by code (`attributes.code`, else the resource id). */
export function signalsByCode(resources: readonly unknown[]): Map<string, SignalResource> {
  const out = new Map<string, SignalResource>();
  for (const raw of resources) {
    const r = obj(raw);
    const a = obj(r.attributes);
    const code = str(a.code) ?? str(r.id);
    if (code === null) continue;
    const s = obj(a.status);
    const value = str(s.value);
    const meta = obj(r.meta);
    out.set(code, {
      status: value === 'SUCCESS' ? 'SUCCESS' : value === 'ERROR' ? 'ERROR' : 'OTHER',
      body: obj(a.body),
      error: s.error,
      retrievedAt: epochMs(meta.retrievedAt),
      oemUpdatedAt: epochMs(meta.oemUpdatedAt),
    });
  }
  return out;
}

const codesOf = (name: SignalName): string[] => [
  ...new Set(Object.values(SIGNALS[name].fields as Record<string, { v3: V3Source }>).flatMap((f) => ('code' in f.v3 ? [f.v3.code] : []))),
];

/**
 * One signal from the vehicle's signal resources (and, for make/model/year, its vehicle resource).
 * A signal whose codes all failed is the first failure; one with a value for some of its codes is a
 * reading whose other fields are null; one with none is "no value yet".
 */
export function answerFromV3(name: SignalName, byCode: Map<string, SignalResource>, vehicle: V3Body | null, units: UnitSystem, requestId: string | null): Reading | UpstreamError {
  const fields = SIGNALS[name].fields as Record<string, { v3: V3Source }>;
  const codes = codesOf(name);
  if (codes.length === 0) {
    if (vehicle === null) return noValueYet(requestId);
    const values: Values = Object.fromEntries(Object.entries(fields).map(([f, spec]) => [f, 'vehicle' in spec.v3 ? spec.v3.vehicle(vehicle) : null]));
    return { values, dataAge: null, fetchedAt: null };
  }
  const found = codes.map((c) => byCode.get(c));
  const primary = found.find((r) => r?.status === 'SUCCESS');
  if (!primary) {
    const failed = found.find((r) => r?.status === 'ERROR');
    return failed ? signalError(failed.error, requestId) : noValueYet(requestId);
  }
  const values: Values = Object.fromEntries(
    Object.entries(fields).map(([f, spec]) => {
      if (!('code' in spec.v3)) return [f, null];
      const r = byCode.get(spec.v3.code);
      return [f, r?.status === 'SUCCESS' ? spec.v3.convert(r.body, units) : null];
    }),
  );
  return { values, dataAge: primary.oemUpdatedAt, fetchedAt: primary.retrievedAt };
}

/** A signal as a webhook carries it (already read by the webhook parser). */
export interface WebhookSignal {
  code: string;
  body: unknown;
  status: string;
  error: unknown;
  oemUpdatedAt: number | null;
  retrievedAt: number | null;
}

/**
 * What a `VEHICLE_STATE` says of each signal it covers: a reading, or the error Smartcar reported for
 * it. Signals none of whose codes it carries are left out (it says nothing of them); make, model and
 * year come from its `data.vehicle` when given.
 */
export function answersFromWebhook(signals: readonly WebhookSignal[], vehicle: V3Body | null, units: UnitSystem): SignalAnswers {
  const byCode = new Map<string, SignalResource>(
    signals.map((s) => [
      s.code,
      { status: s.status === 'SUCCESS' ? 'SUCCESS' : s.status === 'ERROR' ? 'ERROR' : 'OTHER', body: obj(s.body), error: s.error, retrievedAt: s.retrievedAt, oemUpdatedAt: s.oemUpdatedAt },
    ]),
  );
  const out: SignalAnswers = new Map();
  for (const name of Object.keys(SIGNALS) as SignalName[]) {
    const codes = codesOf(name);
    const covered = codes.length === 0 ? vehicle !== null : codes.some((c) => byCode.has(c));
    if (!covered) continue;
    const answer = answerFromV3(name, byCode, vehicle, units, null);
    // "No value yet" is no news: the cache keeps what it holds.
    if (answer instanceof UpstreamError && answer.details.type === null) continue;
    out.set(name, answer);
  }
  return out;
}

/** The signals a webhook's signal codes belong to (an error naming `closure-islocked` is lockStatus's). */
export function signalsOfCodes(codes: readonly string[]): SignalName[] {
  const wanted = new Set(codes.map((c) => c.toLowerCase()));
  return (Object.keys(SIGNALS) as SignalName[]).filter((name) => codesOf(name).some((c) => wanted.has(c)));
}

/** Every signal read through v3 signal codes (not the vehicle resource). */
export const signalsWithCodes = (): SignalName[] => (Object.keys(SIGNALS) as SignalName[]).filter(needsSignals);

export function answersFromV3(names: readonly SignalName[], resources: readonly unknown[], vehicle: V3Body | null, units: UnitSystem, requestId: string | null): SignalAnswers {
  const byCode = signalsByCode(resources);
  return new Map(names.map((n) => [n, answerFromV3(n, byCode, vehicle, units, requestId)]));
}

/** Whether a signal needs the `/signals` list (else the vehicle resource answers it). */
export const needsSignals = (name: SignalName): boolean => codesOf(name).length > 0;

/** The vehicle resource's attributes, wrapped in `data` (the docs) or not (Smartcar's SDK fixtures). */
export function vehicleAttributesOf(body: unknown): V3Body | null {
  const b = obj(body);
  const resource = b.data !== undefined ? obj(b.data) : b;
  const a = resource.attributes;
  return a && typeof a === 'object' ? (a as V3Body) : null;
}

/** A page number from a link (`?page=2`, `?page[number]=2`, root-relative or absolute, with or without `/v3`). */
function pageFromLink(link: string): number | null {
  const q = link.includes('?') ? link.slice(link.indexOf('?') + 1) : '';
  const params = new URLSearchParams(q);
  const n = Number(params.get('page') ?? params.get('page[number]'));
  return Number.isInteger(n) && n > 0 ? n : null;
}

/**
 * The page after `page` of a paged answer, or null on the last: `links.next` when sent (`null` ends),
 * else by `meta` (`page × pageSize ≥ totalCount` ends), else a short page ends.
 */
export function nextPage(body: unknown, page: number, size: number): number | null {
  const b = obj(body);
  const links = obj(b.links);
  if ('next' in links) {
    if (links.next === null) return null;
    const n = typeof links.next === 'string' ? pageFromLink(links.next) : null;
    return n !== null && n > page ? n : null;
  }
  const meta = obj(b.meta);
  const total = num(meta.totalCount);
  const pageSize = num(meta.pageSize) ?? size;
  if (total !== null) return page * pageSize >= total ? null : page + 1;
  return list(b.data).length < size ? null : page + 1;
}

export interface V3Connection {
  id: string;
  userId: string | null;
  vehicleId: string;
  permissions: string[];
  /** `attributes.user.externalId` when the resource shows it; undefined when it does not say. */
  externalId: string | null | undefined;
}

/** The connection resources of a `/connections` page. */
export function connectionsOf(body: unknown): V3Connection[] {
  const out: V3Connection[] = [];
  for (const raw of list(obj(body).data)) {
    const c = obj(raw);
    const a = obj(c.attributes);
    const rel = obj(c.relationships);
    const vehicleId = str(obj(obj(rel.vehicle).data).id) ?? str(obj(a.vehicle).id);
    const id = str(c.id);
    if (!id || !vehicleId) continue;
    const user = obj(a.user);
    out.push({
      id,
      vehicleId,
      userId: str(obj(obj(rel.user).data).id),
      permissions: list(a.permissions).filter((p): p is string => typeof p === 'string'),
      externalId: 'externalId' in user ? str(user.externalId) : undefined,
    });
  }
  return out;
}

/**
 * The user's connections as one ConnectionInfo: every vehicle (in order, once), the permissions of
 * all. With `externalId`, a connection that shows another external id does not count.
 */
export function connectionInfoOf(userId: string, connections: readonly V3Connection[], externalId?: string): ConnectionInfo {
  const kept = connections.filter((c) => (c.userId === null || c.userId === userId) && (externalId === undefined || c.externalId === undefined || c.externalId === externalId));
  return {
    userId,
    vehicleIds: [...new Set(kept.map((c) => c.vehicleId))],
    permissions: [...new Set(kept.flatMap((c) => c.permissions))],
  };
}

/**
 * A command's answer: `200` with its execution (`SUCCESS`, or `ERROR` with the vehicle's error,
 * thrown), `202` for one still running (`PENDING`, however the body reads).
 */
export function commandResultOf(status: number, body: unknown, requestId: string | null): CommandResult {
  const data = obj(obj(body).data);
  const s = obj(obj(data.attributes).status);
  const id = str(data.id);
  if (status === 202) return { status: 'PENDING', message: id ? `Smartcar is carrying out the command (execution ${id}).` : 'Smartcar is carrying out the command.' };
  if (s.value === 'ERROR') throw signalError(s.error, requestId);
  return { status: 'success', message: null };
}

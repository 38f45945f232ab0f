import { createHmac, randomUUID } from 'node:crypto';
import type { Connection } from '../connections';
import type { V3App } from './app.tokens';
import { docUrl } from './errors';
import type { SignalResource } from './signals';
import { vehicleAttributes } from './vehicle.view';

/** Smartcar's webhook payloads (version 4.0) and their signature, as pure functions. */

export interface WebhookEvent {
  eventId: string;
  eventType: 'VERIFY' | 'VEHICLE_STATE' | 'VEHICLE_ERROR';
  /** Not sent: which car the event is about (for the delivery log). */
  vehicleId: string | null;
  data: object;
  triggers?: object[];
  /** Meta fields other than `deliveryId` and `deliveredAt`, which each attempt sets. */
  meta: Record<string, unknown>;
}

export interface ErrorGroup {
  type: string;
  code: string | null;
  description: string;
  resolution: { type: string | null };
  signals: { name: string; group: string; code: string }[];
}

/** `SC-Signature`: lower-hex HMAC-SHA256 of the exact body bytes, keyed with the management token. */
export function sign(managementToken: string, body: string): string {
  return createHmac('sha256', managementToken).update(body).digest('hex');
}

/** The bytes of one delivery attempt. */
export function bodyOf(event: WebhookEvent, deliveryId: string, deliveredAt: unknown): string {
  const { vehicleId: _vehicleId, meta, ...rest } = event;
  return JSON.stringify({ ...rest, meta: { ...meta, deliveryId, deliveredAt } });
}

export const signalRef = (s: SignalResource) => ({ name: s.attributes.name, group: s.attributes.group, code: s.attributes.code });

/** The errors of a snapshot, one group per (type, code), with the signals each one hits. */
export function errorGroups(signals: SignalResource[]): Map<string, ErrorGroup> {
  const groups = new Map<string, ErrorGroup>();
  for (const s of signals) {
    const st = s.attributes.status;
    if (st.value !== 'ERROR') continue;
    const key = `${st.error.type}:${st.error.code}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { type: st.error.type, code: st.error.code, description: st.error.description, resolution: st.error.resolution, signals: [] }));
    g.signals.push(signalRef(s));
  }
  return groups;
}

/** Signal code → what a change is judged on (status and body; never the timestamps). */
export function valuesOf(signals: SignalResource[]): Map<string, string> {
  return new Map(signals.map((s) => [s.attributes.code, JSON.stringify([s.attributes.status, s.attributes.body])]));
}

/** The errors that appeared (`ERROR`) or went away (`RESOLVED`) between two snapshots. */
export function errorChanges(before: Map<string, ErrorGroup>, now: Map<string, ErrorGroup>) {
  const item = (g: ErrorGroup, state: 'ERROR' | 'RESOLVED') => ({
    type: g.type, code: g.code, description: g.description, docURL: docUrl(g.type, g.code), resolution: g.resolution, state, signals: g.signals,
  });
  return [
    ...[...now].filter(([k]) => !before.has(k)).map(([, g]) => item(g, 'ERROR')),
    ...[...before].filter(([k]) => !now.has(k)).map(([, g]) => item(g, 'RESOLVED')),
  ];
}

function common(c: Connection, externalId: string | null) {
  return {
    user: { id: c.user.id, ...(externalId !== null && { externalId }) },
    vehicle: { id: c.vehicle.id, ...vehicleAttributes(c) },
  };
}

function metaOf(app: V3App, c: Connection, signalCount: number | null): Record<string, unknown> {
  return {
    version: '4.0',
    webhookId: app.credentials.webhookId,
    webhookName: app.credentials.webhookName,
    ...(signalCount !== null && { signalCount }),
    mode: c.mode === 'live' ? 'LIVE' : 'TEST',
  };
}

export function stateEvent(app: V3App, c: Connection, externalId: string | null, signals: SignalResource[], triggers: object[]): WebhookEvent {
  const body = signals.map((s) => ({
    ...signalRef(s),
    ...(s.attributes.body !== undefined && { body: s.attributes.body }),
    status: s.attributes.status,
    ...(s.meta && { meta: s.meta }),
  }));
  return {
    eventId: randomUUID(),
    eventType: 'VEHICLE_STATE',
    vehicleId: c.vehicle.id,
    data: { ...common(c, externalId), signals: body },
    triggers,
    meta: metaOf(app, c, body.length),
  };
}

export function errorEvent(app: V3App, c: Connection, externalId: string | null, errors: ReturnType<typeof errorChanges>): WebhookEvent {
  return { eventId: randomUUID(), eventType: 'VEHICLE_ERROR', vehicleId: c.vehicle.id, data: { ...common(c, externalId), errors }, meta: metaOf(app, c, null) };
}

export function verifyEvent(app: V3App, challenge: string): WebhookEvent {
  return {
    eventId: randomUUID(),
    eventType: 'VERIFY',
    vehicleId: null,
    data: { challenge },
    meta: { version: '4.0', webhookId: app.credentials.webhookId, webhookName: app.credentials.webhookName },
  };
}

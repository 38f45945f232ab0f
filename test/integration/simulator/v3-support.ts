import smartcar from 'smartcar';
import type { RunningSimulator } from '../../../src/simulator';
import { completeConsent } from '../../support/connect';

/** API v3 as an app speaks it over plain HTTP, written from Smartcar's documentation. */

export async function appToken(sim: RunningSimulator): Promise<string> {
  const res = await fetch(`${sim.origin}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: sim.v3.clientId, client_secret: sim.v3.clientSecret }),
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export function connectUrl(sim: RunningSimulator, params: Record<string, string> = {}): string {
  const q = new URLSearchParams({
    application_id: sim.v3.applicationId,
    response_type: 'code',
    redirect_uri: 'https://app.example/callback',
    state: 'st-1',
    mode: 'test',
    ...params,
  });
  return `${sim.origin}/oauth/authorize?${q}`;
}

/** Connects `username`'s cars through Connect; returns the redirect's parameters. */
export async function connectV3(sim: RunningSimulator, username: string, params: Record<string, string> = {}): Promise<URLSearchParams> {
  return (await completeConsent(connectUrl(sim, params), { username })).searchParams;
}

export interface V3Signal {
  id: string;
  type: 'signal';
  attributes: {
    code: string;
    name: string;
    group: string;
    status: { value: string; error?: { type: string; code: string | null; description?: string; resolution?: { type: string | null } } };
    body?: Record<string, unknown> & { value?: unknown; unit?: string };
  };
  meta?: { retrievedAt: number; oemUpdatedAt: number };
  links: { self: string };
}

export interface V3Page<T> {
  data: T[];
  meta: { page: number; pageSize: number; totalCount: number };
  links: { self: string; first: string; previous: string | null; next: string | null; last: string };
}

export interface V3Errors {
  errors: { status: string; type: string; code: string | null; title: string; detail: string; links: { about: string }; resolution: { type: string | null }; meta: { debug: { requestId: string } } }[];
}

export interface V3Execution {
  data: { id: string; type: 'command-execution'; attributes: { commandType: string; status: { value: string; error?: { type: string; code: string | null } }; executionMode: string; parameters?: Record<string, unknown> } };
}

export interface V3Connection {
  id: string;
  type: 'connection';
  attributes: { permissions: string[]; vehicle: { make: string; model: string; year: number; mode: string; powertrainType: string }; user: { externalId: string | null } };
  relationships: { vehicle: { data: { id: string } }; user: { data: { id: string } } };
  meta: { createdAt: string };
}

export interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface V3Client {
  get<T>(path: string, userId?: string): Promise<Answer<T>>;
  post<T>(path: string, body: unknown, userId?: string): Promise<Answer<T>>;
  del<T>(path: string): Promise<Answer<T>>;
}

export function v3Client(sim: RunningSimulator, token: () => string): V3Client {
  const call = async <T>(method: string, path: string, body?: unknown, userId?: string): Promise<Answer<T>> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token()}` };
    if (userId) headers['sc-user-id'] = userId;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${sim.origin}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
  };
  return {
    get: (path, userId) => call('GET', path, undefined, userId),
    post: (path, body, userId) => call('POST', path, body, userId),
    del: (path) => call('DELETE', path),
  };
}

/**
 * smartcar-node 10.4's v3 helpers, management calls and webhook helpers, which the gateway's own
 * declarations of the SDK leave out.
 */
export interface SdkV3 {
  getVehicle(accessToken: string, vehicleId: string): Promise<{ body: Record<string, unknown>; headers: Record<string, string> }>;
  getConnections(amt: string, filter?: { userId?: string; vehicleId?: string }, paging?: { limit?: number; cursor?: string }): Promise<{ connections: { userId: string; vehicleId: string; connectedAt: string; mode: string }[]; paging?: { cursor: string | null } }>;
  deleteConnections(amt: string, filter: { userId?: string; vehicleId?: string }): Promise<{ connections: { userId: string; vehicleId: string }[] }>;
  hashChallenge(amt: string, challenge: string): string;
  verifyPayload(amt: string, signature: string, body: object): boolean;
  Vehicle: new (id: string, token: string, options?: { version?: string }) => SdkV3Vehicle;
}

export interface SdkV3Vehicle {
  getSignals(): Promise<{ body: { data: V3Signal[]; included?: { vehicle: { attributes: Record<string, unknown> } }; meta?: unknown }; headers: Record<string, string> }>;
  getSignal(code: string): Promise<{ body: V3Signal; headers: Record<string, string> }>;
  request(method: string, path: string, body: object | null, headers: Record<string, string>, version: string): Promise<{ body: unknown; meta: Record<string, string> }>;
}

export const sdk = smartcar as unknown as SdkV3;

import { request } from 'undici';
import { UpstreamError, type SmartcarDetails } from '../errors';
import { metrics } from '../metrics';
import type { FetchAppToken } from '../tokens/app-token';
import { COMMANDS, type SignalName } from '../vehicles/signal.registry';
import type { ConnectionInfo, Credential, SignalAnswers, SmartcarPort } from './smartcar.port';
import { answersFromV3, commandResultOf, connectionInfoOf, connectionsOf, errorFromV3, needsSignals, nextPage, vehicleAttributesOf, type V3Connection } from './v3.mapping';

/**
 * The v3 adapter: Smartcar API v3 over plain HTTP (undici; Smartcar's SDKs drop v3's metadata and
 * cannot send `sc-user-id`), with v3.mapping.ts the only code that knows its paths and bodies. Every
 * call presents the application token and, for a driver's vehicle, `sc-user-id`. Every failure is
 * normalised into UpstreamError.
 */

export interface V3AdapterOptions {
  /** The `client_…` API client id and secret: for the token endpoint only. */
  clientId: string;
  clientSecret: string;
  /** The Application ID: what Connect takes. */
  applicationId: string;
  redirectUri: string;
  mode: 'live' | 'test' | 'simulated';
  timeoutMs: number;
  tokenTimeoutMs: number;
  origins: { iam: string; api: string; connect: string; management: string };
  /** Signals and connections asked per page (Smartcar's maximum, 100, unless a test wants pages). */
  pageSize?: number;
}

/** Smartcar's maximum page size; the page cap bounds a misbehaving upstream. */
const PAGE_SIZE = 100;
const MAX_PAGES = 20;

interface Answer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

const EMPTY: SmartcarDetails = { type: null, code: null, requestId: null, resolution: null, suggestedUserMessage: null, retryAfter: null };

/** What undici threw, as an UpstreamError (programming errors rethrown). */
function transportError(err: unknown): UpstreamError {
  const e = err as { name?: string; code?: string } | null;
  const code = e?.code ?? '';
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError' || /TIMEOUT/.test(code)) return new UpstreamError('timeout', null, EMPTY, { cause: err });
  if (code.startsWith('UND_ERR') || /^E[A-Z]+$/.test(code)) return new UpstreamError('network', null, EMPTY, { cause: err });
  throw err;
}

function headersOf(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** One HTTP exchange, counted under `label` (a route shape, never an id); non-2xx answers are thrown. */
async function send(label: string, url: string, init: { method: 'GET' | 'POST' | 'DELETE'; headers: Record<string, string>; body?: string; timeoutMs: number }): Promise<Answer> {
  let answer: Answer;
  try {
    const res = await request(url, { method: init.method, headers: init.headers, body: init.body ?? null, signal: AbortSignal.timeout(init.timeoutMs) });
    const text = await res.body.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null; // an HTML page from a load balancer: judged by its status
    }
    answer = { status: res.statusCode, body, headers: headersOf(res.headers) };
  } catch (err) {
    const failure = transportError(err);
    metrics.upstream.inc({ path: label, status: failure.kind });
    throw failure;
  }
  metrics.upstream.inc({ path: label, status: String(answer.status) });
  if (answer.status >= 200 && answer.status < 300) return answer;
  throw errorFromV3(answer.status, answer.body, answer.headers);
}

/** What a v3 call presents: the application token, and the driver it acts for. */
type V3Credential = Extract<Credential, { api: 3 }>;

function v3Credential(credential: Credential): V3Credential {
  if (credential.api !== 3) throw new Error(`the v3 adapter was handed a v${String(credential.api)} credential`);
  return credential;
}

/** The management API's webhook subscriptions of one driver's vehicle. */
export interface V3WebhookSubscriptions {
  /** Subscribes the vehicle; one that already is (409) counts as done. */
  subscribe(credential: Credential, webhookId: string, vehicleId: string): Promise<void>;
  /** Ends every subscription of the vehicle to the webhook; none left (404) counts as done. */
  unsubscribe(credential: Credential, webhookId: string, vehicleId: string): Promise<void>;
}

export interface V3Adapter {
  port: SmartcarPort;
  /** Smartcar's token endpoint (client credentials), for AppTokenProvider. */
  fetchAppToken: FetchAppToken;
  webhooks: V3WebhookSubscriptions;
}

/** A failure that means "already so": the subscription exists (409) or is gone (404). */
const already = (status: number) => (err: unknown) => {
  if (!(err instanceof UpstreamError && err.status === status)) throw err;
};

export function createV3Adapter(options: V3AdapterOptions): V3Adapter {
  const api = `${options.origins.api}/v3`;
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const headers = (c: V3Credential, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${c.appToken}`, 'sc-user-id': c.userId, ...extra });
  const get = (label: string, url: string, c: V3Credential) => send(label, url, { method: 'GET', headers: headers(c), timeoutMs: options.timeoutMs });

  const fetchAppToken: FetchAppToken = async () => {
    const res = await send('/oauth2/token', `${options.origins.iam}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: options.clientId, client_secret: options.clientSecret }).toString(),
      timeoutMs: options.tokenTimeoutMs,
    });
    const b = (res.body ?? {}) as { access_token?: unknown; expires_in?: unknown };
    const ttl = typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : 3600;
    if (typeof b.access_token !== 'string' || b.access_token === '') throw new UpstreamError('response', res.status, { ...EMPTY, type: 'server_error', requestId: res.headers['sc-request-id'] ?? null });
    return { accessToken: b.access_token, expiresAt: Date.now() + ttl * 1000 };
  };

  /** Every connection of the user (all pages), optionally only those carrying `externalId`. */
  const connections = async (c: V3Credential, filter: { vehicleId?: string; externalId?: string }): Promise<V3Connection[]> => {
    const out: V3Connection[] = [];
    for (let page: number | null = 1, n = 0; page !== null && n < MAX_PAGES; n++) {
      const q = new URLSearchParams({ 'filter[userId]': c.userId, 'page[number]': String(page), 'page[size]': String(pageSize) });
      if (filter.vehicleId) q.set('filter[vehicleId]', filter.vehicleId);
      if (filter.externalId) q.set('filter[user.externalId]', filter.externalId);
      const res = await get('/v3/connections', `${api}/connections?${q}`, c);
      out.push(...connectionsOf(res.body));
      page = nextPage(res.body, page, pageSize);
    }
    return out;
  };

  /** All pages of a vehicle's signals, and the vehicle resource included beside them. */
  const signalPages = async (c: V3Credential, vehicleId: string) => {
    const resources: unknown[] = [];
    let vehicle: Record<string, unknown> | null = null;
    let requestId: string | null = null;
    for (let page: number | null = 1, n = 0; page !== null && n < MAX_PAGES; n++) {
      const res = await get('/v3/vehicles/signals', `${api}/vehicles/${encodeURIComponent(vehicleId)}/signals?page=${page}&pageSize=${pageSize}`, c);
      const body = (res.body ?? {}) as { data?: unknown; included?: { vehicle?: unknown } };
      if (Array.isArray(body.data)) resources.push(...(body.data as unknown[]));
      vehicle ??= body.included?.vehicle ? vehicleAttributesOf(body.included.vehicle) : null;
      requestId ??= res.headers['sc-request-id'] ?? null;
      page = nextPage(res.body, page, pageSize);
    }
    return { resources, vehicle, requestId };
  };

  const readSignals = async (credential: Credential, vehicleId: string, names: readonly SignalName[], units: 'metric' | 'imperial'): Promise<SignalAnswers> => {
    const c = v3Credential(credential);
    try {
      if (!names.some(needsSignals)) {
        // Only make, model and year: the vehicle resource alone, smaller than every signal.
        const res = await get('/v3/vehicles', `${api}/vehicles/${encodeURIComponent(vehicleId)}`, c);
        return answersFromV3(names, [], vehicleAttributesOf(res.body), units, res.headers['sc-request-id'] ?? null);
      }
      const { resources, vehicle, requestId } = await signalPages(c, vehicleId);
      return answersFromV3(names, resources, vehicle, units, requestId);
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      return new Map(names.map((n) => [n, err]));
    }
  };

  const port: SmartcarPort = {
    authUrl: (input) => {
      const q = new URLSearchParams({ response_type: 'code', application_id: options.applicationId, redirect_uri: options.redirectUri, scope: input.scope.join(' '), mode: options.mode });
      if (input.state !== undefined) q.set('state', input.state);
      if (input.externalId !== undefined) q.set('external_id', input.externalId);
      if (input.forcePrompt) q.set('approval_prompt', 'force');
      if (input.make !== undefined) q.set('make', input.make);
      if (input.singleSelectVin !== undefined) {
        q.set('single_select', 'true');
        q.set('single_select_vin', input.singleSelectVin);
      }
      return `${options.origins.connect}/oauth/authorize?${q}`;
    },
    exchangeCode: () => Promise.reject(new Error('API v3 exchanges no authorization code')),
    refreshTokens: () => Promise.reject(new Error('API v3 has no refresh token')),
    describeConnection: async (credential, externalId): Promise<ConnectionInfo> => {
      const c = v3Credential(credential);
      return connectionInfoOf(c.userId, await connections(c, externalId === undefined ? {} : { externalId }), externalId);
    },
    readSignals,
    command: async (credential, vehicleId, command) => {
      const c = v3Credential(credential);
      const path = COMMANDS[command].v3.path;
      const res = await send(`POST /v3/vehicles${path}`, `${api}/vehicles/${encodeURIComponent(vehicleId)}${path}`, { method: 'POST', headers: headers(c), timeoutMs: options.timeoutMs });
      return commandResultOf(res.status, res.body, res.headers['sc-request-id'] ?? null);
    },
    disconnect: async (credential, vehicleId) => {
      const c = v3Credential(credential);
      // Connection ids change on every re-authorisation: look the current ones up.
      for (const conn of await connections(c, { vehicleId })) {
        if (conn.vehicleId !== vehicleId) continue;
        await send('DELETE /v3/connections', `${api}/connections/${encodeURIComponent(conn.id)}`, { method: 'DELETE', headers: { authorization: `Bearer ${c.appToken}` }, timeoutMs: options.timeoutMs }).catch((err: unknown) => {
          // Gone meanwhile (another session ended it): what was asked is done.
          if (!(err instanceof UpstreamError && err.status === 404)) throw err;
        });
      }
    },
  };
  const management = `${options.origins.management}/v3`;
  const webhooks: V3WebhookSubscriptions = {
    subscribe: async (credential, webhookId, vehicleId) => {
      const c = v3Credential(credential);
      const body = JSON.stringify({ data: { attributes: { webhookId, userId: c.userId, vehicleId } } });
      await send('POST /v3/subscriptions', `${management}/subscriptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.appToken}`, 'content-type': 'application/json' },
        body,
        timeoutMs: options.timeoutMs,
      }).catch(already(409));
    },
    unsubscribe: async (credential, webhookId, vehicleId) => {
      const c = v3Credential(credential);
      const auth = { authorization: `Bearer ${c.appToken}` };
      const q = new URLSearchParams({ 'filter[webhookId]': webhookId, 'filter[userId]': c.userId, 'filter[vehicleId]': vehicleId, 'page[size]': '100' });
      const res = await send('GET /v3/subscriptions', `${management}/subscriptions?${q}`, { method: 'GET', headers: auth, timeoutMs: options.timeoutMs });
      const found = ((res.body as { data?: unknown } | null)?.data ?? []) as { id?: unknown }[];
      for (const sub of Array.isArray(found) ? found : []) {
        if (typeof sub.id !== 'string') continue;
        await send('DELETE /v3/subscriptions', `${management}/subscriptions/${encodeURIComponent(sub.id)}`, { method: 'DELETE', headers: auth, timeoutMs: options.timeoutMs }).catch(already(404));
      }
    },
  };
  return { port, fetchAppToken, webhooks };
}

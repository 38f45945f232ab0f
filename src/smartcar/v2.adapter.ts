import smartcar from 'smartcar';
import type { UpstreamError } from '../errors';
import { metrics } from '../metrics';
import { COMMANDS, type SignalName } from '../vehicles/signal.registry';
import type { Credential, SignalAnswers, SmartcarPort, TokenPair } from './smartcar.port';
import { answersFromBatch, normalizeSdkError, readingFromV2, v2Path } from './v2.mapping';

/**
 * The v2 adapter: the one place that imports the `smartcar` SDK, and with v2.mapping.ts the only
 * code that knows v2's paths and bodies. Every failure is normalised into UpstreamError. The SDK
 * reads its origins from process.env (the auth origin once, at AuthClient construction), so they are
 * applied here from Config before the client is built.
 */

export interface SmartcarClientOptions {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  mode: 'live' | 'test' | 'simulated';
  timeoutMs: number;
  /** Deadline of token-endpoint calls (code exchange, refresh), usually shorter than `timeoutMs`. */
  tokenTimeoutMs: number;
  origins: { auth: string | null; api: string | null; management: string | null };
}

/** Smartcar's maximum page size for `/vehicles`; the cap bounds a misbehaving upstream. */
const PAGE_SIZE = 50;
const MAX_PAGES = 40;

const ORIGIN_VARIABLES = {
  auth: 'SMARTCAR_AUTH_ORIGIN',
  api: 'SMARTCAR_API_ORIGIN',
  management: 'SMARTCAR_MANAGEMENT_API_ORIGIN',
} as const;

/** Points the SDK at the configured origins (its only way to take them) and sets its fetch deadline. */
function configureSdk(options: SmartcarClientOptions): void {
  for (const [key, variable] of Object.entries(ORIGIN_VARIABLES)) {
    const value = options.origins[key as keyof typeof ORIGIN_VARIABLES];
    if (value) process.env[variable] = value;
    else delete process.env[variable];
  }
  // The SDK's services read this shared object when they are built; its default is 310 s.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('smartcar/lib/config.json') as { timeout: number }).timeout = options.timeoutMs;
}

function count(path: string, outcome: UpstreamError | null): void {
  metrics.upstream.inc({ path, status: outcome === null ? '200' : outcome.kind === 'response' ? String(outcome.status) : outcome.kind });
}

/** One SDK call, counted under `path` (a route shape, never an id), failures normalised. */
async function call<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    const result = await fn();
    count(path, null);
    return result;
  } catch (err) {
    const failure = normalizeSdkError(err);
    count(path, failure);
    throw failure;
  }
}

async function readVehicle(vehicle: smartcar.Vehicle, names: readonly SignalName[]): Promise<SignalAnswers> {
  const paths = names.map(v2Path);
  const label = paths.length === 1 ? paths[0]! : '/batch';
  try {
    if (paths.length === 1) {
      const res = await vehicle.request('get', paths[0]!.replace(/^\//, ''));
      count(label, null);
      return new Map([[names[0]!, readingFromV2(names[0]!, res.body, res.meta.dataAge, res.meta.fetchedAt)]]);
    }
    const res = await vehicle.request('post', 'batch', { requests: paths.map((path) => ({ path })) });
    count(label, null);
    return answersFromBatch(names, res.body, res.meta.requestId ?? null);
  } catch (err) {
    const failure = normalizeSdkError(err);
    count(label, failure);
    return new Map(names.map((n) => [n, failure]));
  }
}

/** The access token a v2 call presents. */
function accessToken(credential: Credential): string {
  if (credential.api !== 2) throw new Error(`the v2 adapter was handed a v${String(credential.api)} credential`);
  return credential.accessToken;
}

/**
 * Gives up on `work` after `ms` with a timeout failure. The SDK's request goes on in the background
 * (it takes no abort signal) and its answer is dropped: for a refresh that means an unknown outcome,
 * which the token provider recovers from.
 */
async function withDeadline<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { name: 'TimeoutError' })), ms);
  });
  work.catch(() => undefined); // a late failure after the deadline is nobody's to handle
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function pairOf(access: smartcar.Access): TokenPair {
  return {
    accessToken: access.accessToken,
    refreshToken: access.refreshToken,
    expiresAt: access.expiration.getTime(),
    refreshExpiresAt: access.refreshExpiration.getTime(),
  };
}

export function createV2Adapter(options: SmartcarClientOptions): SmartcarPort {
  configureSdk(options);
  const auth = new smartcar.AuthClient({
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    redirectUri: options.redirectUri,
    mode: options.mode,
  });
  const userId = (token: string) => call('/user', async () => (await smartcar.getUser(token)).id);
  const vehicleIds = (token: string) =>
    call('/vehicles', async () => {
      const ids: string[] = [];
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await smartcar.getVehicles(token, { limit: PAGE_SIZE, offset: ids.length });
        ids.push(...res.vehicles);
        if (res.vehicles.length === 0 || ids.length >= res.paging.count) break;
      }
      return ids;
    });
  const permissions = (token: string, vehicleId: string) =>
    call('/permissions', async () => {
      const res = await new smartcar.Vehicle(vehicleId, token).permissions({ limit: 100 });
      return res.permissions;
    });

  return {
    authUrl: (input) =>
      // Our names differ from the SDK's: make → makeBypass, singleSelectVin → singleSelect: {vin}.
      auth.getAuthUrl(input.scope, {
        ...(input.state !== undefined && { state: input.state }),
        ...(input.forcePrompt !== undefined && { forcePrompt: input.forcePrompt }),
        ...(input.make !== undefined && { makeBypass: input.make }),
        ...(input.singleSelectVin !== undefined && { singleSelect: { vin: input.singleSelectVin } }),
      }),
    exchangeCode: (code) => call('/oauth/token', async () => pairOf(await withDeadline(options.tokenTimeoutMs, auth.exchangeCode(code)))),
    refreshTokens: (refreshToken) => call('/oauth/token', async () => pairOf(await withDeadline(options.tokenTimeoutMs, auth.exchangeRefreshToken(refreshToken)))),
    describeConnection: async (credential) => {
      const token = accessToken(credential);
      const [user, ids] = await Promise.all([userId(token), vehicleIds(token)]);
      // One grant, one set of permissions: the first vehicle tells them for all.
      return { userId: user, vehicleIds: ids, permissions: ids.length ? await permissions(token, ids[0]!) : [] };
    },
    readSignals: (credential, vehicleId, names, unitSystem) => readVehicle(new smartcar.Vehicle(vehicleId, accessToken(credential), { unitSystem }), names),
    command: (credential, vehicleId, command) =>
      call(`POST ${COMMANDS[command].v2.path}`, async () => {
        // The SDK's command methods have the registry's command names.
        const res = await new smartcar.Vehicle(vehicleId, accessToken(credential))[command]();
        return { status: res.status, message: res.message ?? null };
      }),
    disconnect: (credential, vehicleId) =>
      call('DELETE /application', async () => {
        await new smartcar.Vehicle(vehicleId, accessToken(credential)).disconnect();
      }),
  };
}

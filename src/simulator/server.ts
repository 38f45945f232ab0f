import express, { type NextFunction, type Request, type Response } from 'express';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminRoutes } from './admin.routes';
import { apiRoutes, vehicleEndpoint } from './api.routes';
import { AuthState } from './auth.state';
import { apiErrorFor, newRequestId, oauthErrorFor } from './errors';
import { Faults, type ActiveFault, type FaultSpec } from './faults';
import { oauthRoutes } from './oauth.routes';
import { resolveOptions, type MutableSettings, type SimClient, type SimulatorOptions } from './options';
import { Recorder, type RecordDraft, type RecordedRequest } from './recorder';
import { startV3, v3Env, v3Identity, type DeliveryRecord, type V3Identity, type WebhookStatus } from './v3';
import { fromV2 } from './v3/errors';
import { userFor, type SimUser } from './world';

export interface RunningSimulator {
  /** e.g. `http://127.0.0.1:41234`, no trailing slash. */
  origin: string;
  port: number;
  /** The first registered application (the built-in one unless `clients` was given). */
  client: SimClient;
  /** The environment that points smartcar-node (and this gateway) at the simulator. */
  env: Record<string, string>;
  requests(since?: number): RecordedRequest[];
  resetRequests(): void;
  configure(patch: Partial<MutableSettings>): void;
  addFault(spec: FaultSpec): ActiveFault;
  clearFaults(): void;
  user(username: string): SimUser;
  expireAccessTokens(username: string): number;
  revokeRefreshTokens(username: string): number;
  /** In-process only: every live token issued to this user (to prove a client never leaks one). */
  issuedTokens(username: string): string[];
  /** API v3: the first application's credentials (its Application ID is `client.clientId`). */
  v3: V3Identity;
  /** The environment for API v3 (`npm run simulator`'s second block); `env` stays the v2 one. */
  v3Env: Record<string, string>;
  /** Sends one VEHICLE_STATE now to each subscription of this car; returns how many. */
  sendWebhook(vehicleId: string): number;
  webhookDeliveries(): DeliveryRecord[];
  webhookStatus(): { url: string | null; status: WebhookStatus; problem: string | null };
  /** These signals of the car (or `'all'`) have no value yet; `null` ends that. */
  setUnreported(vehicleId: string, codes: string[] | 'all' | null): void;
  expireAppTokens(): number;
  stop(): Promise<void>;
}

type Target = 'token' | 'connect' | 'api';

const formBody = express.urlencoded({ extended: false, limit: '16kb' });
const jsonBody = express.json({ limit: '64kb' });
/** Parses a form or JSON body now; the routes' own parsers then see it parsed and skip. */
function readBody(req: Request, res: Response, done: () => void): void {
  formBody(req, res, () => jsonBody(req, res, () => done()));
}

function targetOf(path: string): Target {
  if (path === '/oauth/token' || path === '/oauth2/token') return 'token';
  if (path.startsWith('/oauth/')) return 'connect';
  return 'api';
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const opts = resolveOptions(options);
  const auth = new AuthState(opts);
  const recorder = new Recorder(() => opts.maxRecordedRequests);
  const faults = new Faults();
  const v3 = startV3(opts, auth);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use('/__simulator', v3.admin, adminRoutes(opts, auth, recorder, faults, v3.configured));

  // Every other request: recorded, tagged with a request id, slowed down and faulted as configured.
  app.use(async (req: Request, res: Response, next: NextFunction) => {
    const requestId = newRequestId();
    const draft: RecordDraft = { method: req.method, path: req.path, query: {}, kind: 'other', requestId, ...vehicleEndpoint(req.path) };
    for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') draft.query[k] = v;
    res.locals.record = draft;
    res.locals.requestId = requestId;
    res.set('sc-request-id', requestId);
    res.on('close', () => recorder.add(draft, res.writableFinished ? res.statusCode : 0, opts.now()));

    if (opts.latencyMs > 0) await sleep(opts.latencyMs);
    const target = targetOf(req.path);
    const fault = faults.take(target);
    if (!fault) return next();
    draft.fault = `${fault.target}:${fault.mode}`;
    draft.kind = target;
    switch (fault.mode) {
      case 'delay':
        // Read the body first, as a server that already received the request would: the request is
        // then processed after the delay even if the client has gone (its answer is simply lost).
        await new Promise<void>((resolve) => readBody(req, res, () => resolve()));
        await sleep(fault.delayMs ?? 1000);
        return next();
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        await sleep(fault.delayMs ?? 60_000);
        req.socket.destroy();
        return;
      case 'html':
        res.status(fault.status ?? 503).type('html').send('<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>');
        return;
      case 'error': {
        const status = fault.status ?? 503;
        if (target === 'token' || target === 'connect') {
          const e = oauthErrorFor(status);
          res.status(status).json(e.body());
        } else {
          const e = apiErrorFor(status, opts.retryAfterSec);
          res.status(status).set(e.headers()).json(req.path.startsWith('/v3/') ? fromV2(e).body(requestId) : e.body(requestId));
        }
        return;
      }
    }
  });

  app.use('/oauth', oauthRoutes(auth, opts.now));
  app.use(v3.routes);
  app.use(apiRoutes(auth, opts));

  // A bug in the simulator itself: answer like Smartcar's 500, never crash.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    console.error('[simulator] internal error', err);
    if (res.headersSent) return void res.end();
    res.status(500).json({ type: 'SERVER', code: 'INTERNAL', description: 'An internal Smartcar error occurred.', statusCode: 500, requestId: res.locals.requestId, resolution: { type: 'RETRY_LATER' } });
  });

  const server = app.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const origin = `http://${host}:${port}`;
  const client = opts.clients[0]!;

  return {
    origin,
    port,
    client,
    env: {
      SMARTCAR_AUTH_ORIGIN: origin,
      SMARTCAR_API_ORIGIN: origin,
      SMARTCAR_MANAGEMENT_API_ORIGIN: origin,
      SMARTCAR_CLIENT_ID: client.clientId,
      SMARTCAR_CLIENT_SECRET: client.clientSecret,
    },
    requests: (since) => recorder.list(since),
    resetRequests: () => recorder.clear(),
    configure: (patch) => {
      Object.assign(opts, patch);
      v3.configured();
    },
    addFault: (spec) => faults.add(spec),
    clearFaults: () => faults.remove(),
    user: (username) => userFor(username),
    expireAccessTokens: (username) => auth.expireAccessTokens(username),
    revokeRefreshTokens: (username) => auth.revokeRefreshTokens(username),
    issuedTokens: (username) => auth.issuedTokens(username),
    v3: v3Identity(v3.ctx),
    v3Env: v3Env(v3.ctx, origin),
    sendWebhook: (vehicleId) => v3.ctx.webhooks.sendNow(vehicleId),
    webhookDeliveries: () => v3.ctx.webhooks.deliveries(),
    webhookStatus: () => v3.ctx.webhooks.status(client.clientId),
    setUnreported: (vehicleId, codes) => v3.ctx.unreported.set(vehicleId, codes),
    expireAppTokens: () => v3.ctx.tokens.expireAll(),
    stop: async () => {
      await v3.stop();
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

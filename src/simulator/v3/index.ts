import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { AuthState } from '../auth.state';
import { OAuthError } from '../errors';
import type { ResolvedOptions } from '../options';
import { AppTokens } from './app.tokens';
import { Executions } from './commands';
import { connectionsRoutes } from './connections.routes';
import { recordOf, v3Handler, type V3Context } from './context';
import { v3EnvOf, type V3Credentials } from './credentials';
import { v3Errors, V3Error } from './errors';
import { subscriptionsRoutes } from './subscriptions.routes';
import { recordTestData } from './test.data';
import { Unreported } from './vehicle.view';
import { vehiclesRoutes } from './vehicles.routes';
import type { DeliveryRecord } from './webhook.delivery';
import { Webhooks, type WebhookStatus } from './webhooks';

/**
 * API v3 on the simulator's one origin: the token endpoint (`/oauth2/token`), the Vehicle API, the
 * Connections API, the management API's subscriptions, v2's management connections, the webhooks,
 * and their `/__simulator` controls.
 */

export interface V3Simulator {
  ctx: V3Context;
  /** Mounted before the v2 API (it also answers `/v2.0/management/…`). */
  routes: Router;
  /** Mounted at `/__simulator`. */
  admin: Router;
  /** The settings changed (a new webhook URL is verified). */
  configured(): void;
  stop(): Promise<void>;
}

/** The first application's v3 identity, for RunningSimulator. */
export interface V3Identity extends V3Credentials {
  applicationId: string;
}

export function v3Identity(ctx: V3Context): V3Identity {
  const app = ctx.tokens.apps()[0]!;
  return { applicationId: app.applicationId, ...app.credentials };
}

export function v3Env(ctx: V3Context, origin: string): Record<string, string> {
  const app = ctx.tokens.apps()[0]!;
  return v3EnvOf(origin, app.applicationId, app.credentials);
}

export function startV3(opts: ResolvedOptions, auth: AuthState): V3Simulator {
  const tokens = new AppTokens(opts);
  const unreported = new Unreported();
  const ctx: V3Context = { opts, auth, tokens, unreported, executions: new Executions(), webhooks: new Webhooks(opts, tokens, auth, unreported) };
  recordTestData(auth.connections, opts.now());
  ctx.webhooks.sync();

  const routes = express.Router();
  routes.use(['/oauth2', '/v3', '/v2.0/management'], express.urlencoded({ extended: false, limit: '16kb' }), express.json({ limit: '64kb' }));

  routes.post('/oauth2/token', (req: Request, res: Response) => {
    const record = recordOf(res);
    record.kind = 'token';
    res.set({ 'cache-control': 'no-store', pragma: 'no-cache' });
    const body = (req.body ?? {}) as Record<string, unknown>;
    record.grantType = typeof body.grant_type === 'string' ? body.grant_type : undefined;
    try {
      const { app, token } = tokens.issue(req.headers.authorization, body);
      record.clientId = app.credentials.clientId;
      res.json(token);
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      if (e.status === 401) res.set('www-authenticate', 'Basic realm="smartcar"');
      res.status(e.status).json(e.body());
    }
  });
  // A v2 command changes the same car: webhooks go out at once, as after a v3 command.
  routes.use('/v2.0/vehicles/:id', (req, res, next) => {
    if (req.method === 'POST') res.on('finish', () => res.statusCode === 200 && ctx.webhooks.carChanged(req.params.id!));
    next();
  });
  routes.use('/v3/vehicles/:id', vehiclesRoutes(ctx));
  routes.use('/v3/subscriptions', subscriptionsRoutes(ctx));
  routes.use(connectionsRoutes(ctx));
  routes.use(
    '/v3',
    v3Handler(() => {
      throw v3Errors.notFound();
    }),
  );
  // A body that is not JSON (or too large).
  routes.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status !== 400 && status !== 413) return next(err);
    if (req.path.startsWith('/oauth2/')) return void res.status(400).json(new OAuthError(400, 'invalid_request', 'The request body is malformed.').body());
    const e = status === 413 ? new V3Error(413, 'VALIDATION', 'INVALID_INPUT_FORMAT', 'The request body is too large.') : v3Errors.validation('The request body is not valid JSON.');
    res.status(e.status).json(e.body(res.locals.requestId as string));
  });

  const stop = async () => {
    ctx.executions.stop();
    await ctx.webhooks.stop();
  };
  return { ctx, routes, admin: v3Admin(ctx), configured: () => ctx.webhooks.sync(), stop };
}

/** `/__simulator` controls for v3 (never recorded, never faulted). */
function v3Admin(ctx: V3Context): Router {
  const router = express.Router();
  router.use(express.json({ limit: '16kb' }));

  router.get('/v3', (_req, res) => {
    res.json({
      applications: ctx.tokens.apps().map((a) => ({ applicationId: a.applicationId, ...a.credentials, webhook: ctx.webhooks.status(a.applicationId) })),
    });
  });
  router.get('/webhook/deliveries', (_req, res) => {
    res.json({ deliveries: ctx.webhooks.deliveries() });
  });
  router.post('/webhook/verify', (_req, res) => {
    for (const a of ctx.tokens.apps()) ctx.webhooks.reverify(a);
    res.status(202).json({ verifying: true });
  });
  router.post('/vehicles/:id/webhook', (req, res) => {
    res.json({ sent: ctx.webhooks.sendNow(req.params.id) });
  });
  router.put('/vehicles/:id/unreported', (req, res) => {
    const codes = (req.body as { codes?: unknown } | undefined)?.codes;
    const ok = codes === null || codes === 'all' || (Array.isArray(codes) && codes.every((c) => typeof c === 'string'));
    if (!ok) return void res.status(400).json({ error: '"codes" must be an array of signal codes, "all" or null' });
    ctx.unreported.set(req.params.id, codes as string[] | 'all' | null);
    res.status(204).end();
  });
  router.post('/expire-app-tokens', (_req, res) => {
    res.json({ expired: ctx.tokens.expireAll() });
  });
  return router;
}

export type { DeliveryRecord, WebhookStatus };

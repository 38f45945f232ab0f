import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { ConnectRedirect, ConnectService } from '../connect/connect.service';
import { badInput, HTTP_STATUS, toAppError } from '../errors';
import { logFailure } from '../graphql/format-error';
import type { Logger } from '../logger';
import type { RequestSession } from '../session/request-session';
import type { SignalService } from '../vehicles/signal.service';
import type { VehicleService } from '../vehicles/vehicle.service';

/**
 * The routes of Smartcar's getting-started backends (see the README), so the tutorial apps work
 * unchanged: `/exchange?code=…` then `/vehicle` → `{id, make, model, year}`; and `/connect`, which
 * starts Connect from a browser with a state bound to its session. Thin: the same services as GraphQL.
 */

export interface TutorialDeps {
  connect: ConnectService;
  vehicles: VehicleService;
  signals: SignalService;
  requestSession(req: Request, res: Response): RequestSession;
  logger: Logger;
}

const single = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Connect's redirect parameters from `/exchange`'s query (v2: `code`; v3: `user_id`; both: `state`). */
export function redirectOf(query: Record<string, unknown>): ConnectRedirect {
  const get = (name: string) => single(query[name]) || null;
  return { code: get('code'), userId: get('user_id'), state: get('state'), error: get('error') };
}

export function tutorialRoutes(deps: TutorialDeps): Router {
  const router = express.Router();

  router.get('/connect', async (req, res) => {
    const url = await deps.connect.connectUrl(deps.requestSession(req, res), { make: single(req.query.make) ?? null });
    // The location carries a state bound to this session: no cache may hand it to anyone else.
    res.setHeader('cache-control', 'no-store');
    res.redirect(302, url);
  });

  router.get('/exchange', async (req, res) => {
    const redirect = redirectOf(req.query);
    // A browser sent here by another site with a bare code is how login CSRF arrives: someone else's
    // car would land in this browser's session. Connect's own redirect carries our state; the tutorial
    // app's request is not a browser navigation and has no Fetch Metadata. Whatever SMARTCAR_REQUIRE_STATE says.
    if (redirect.error === null && redirect.state === null && req.get('sec-fetch-site') === 'cross-site') {
      throw badInput('state: required when a browser arrives from another site. Start at /connect.');
    }
    await deps.connect.complete(deps.requestSession(req, res), redirect);
    res.redirect(302, '/vehicle');
  });

  router.get('/vehicle', async (req, res) => {
    const rs = deps.requestSession(req, res);
    const id = await deps.vehicles.resolve(rs, single(req.query.id) ?? null);
    const { values } = await deps.signals.loader(rs).load({ vehicleId: id, signal: 'attributes', maxAge: 0 });
    res.json({ id, make: values.make, model: values.model, year: values.year });
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const app = toAppError(err);
    logFailure(deps.logger, app, { requestId: String(res.getHeader('x-request-id')) });
    res.status(HTTP_STATUS[app.code]).json({ error: { code: app.code, message: app.message } });
  });

  return router;
}

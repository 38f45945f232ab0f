import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { ConnectService } from '../connect/connect.service';
import { badInput, HTTP_STATUS, toAppError } from '../errors';
import { logFailure } from '../graphql/format-error';
import type { Logger } from '../logger';
import type { RequestSession } from '../session/request-session';
import type { SignalService } from '../vehicles/signal.service';
import type { VehicleService } from '../vehicles/vehicle.service';

/**
 * The routes of Smartcar's getting-started backends (the README's "The Smartcar iOS tutorial app"), so
 * the tutorial apps work unchanged: `/exchange?code=…` then `/vehicle` → `{id, make, model, year}`. Thin: the same services
 * as GraphQL.
 */

export interface TutorialDeps {
  connect: ConnectService;
  vehicles: VehicleService;
  signals: SignalService;
  requestSession(req: Request, res: Response): RequestSession;
  logger: Logger;
}

const single = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function tutorialRoutes(deps: TutorialDeps): Router {
  const router = express.Router();

  router.get('/exchange', async (req, res) => {
    const error = single(req.query.error);
    if (error !== undefined) {
      // Connect sends the driver back with ?error=access_denied (or another reason) instead of a code.
      throw badInput(`Smartcar Connect did not authorise: ${error.slice(0, 64)}`, { connectError: error.slice(0, 64) });
    }
    const code = single(req.query.code);
    if (!code) throw badInput('code: required');
    await deps.connect.exchange(deps.requestSession(req, res), code, single(req.query.state) ?? null);
    res.redirect(302, '/vehicle');
  });

  router.get('/vehicle', async (req, res) => {
    const rs = deps.requestSession(req, res);
    const id = await deps.vehicles.resolve(rs, single(req.query.id) ?? null);
    const { body } = await deps.signals.loader(rs).load({ vehicleId: id, path: '/', maxAge: 0 });
    res.json({ id, make: body.make, model: body.model, year: body.year });
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const app = toAppError(err);
    logFailure(deps.logger, app, { requestId: String(res.getHeader('x-request-id')) });
    res.status(HTTP_STATUS[app.code]).json({ error: { code: app.code, message: app.message } });
  });

  return router;
}

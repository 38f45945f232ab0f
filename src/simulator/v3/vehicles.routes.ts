import express, { type Router } from 'express';
import { commandDef } from './commands';
import { appOf, connectionOf, found, pageOf, paged, recordOf, userIdHeader, v3Handler, type V3Context } from './context';
import { v3Errors } from './errors';
import { carFault } from './signals';
import { signalsOf, vehicleAttributes } from './vehicle.view';

/**
 * The Vehicle API v3 (`/v3/vehicles/{id}`, its signals and its commands), JSON:API in form, on the
 * same cars and the same state as v2.
 */

export function vehiclesRoutes(ctx: V3Context): Router {
  const router = express.Router({ mergeParams: true });
  const { auth, opts } = ctx;

  router.use((req, res, next) => {
    const record = recordOf(res);
    const parts = req.path.split('/').filter(Boolean);
    record.vehicleId = (req.params as { id: string }).id;
    record.endpoint = '/' + parts.join('/');
    next();
  });

  router.get(
    '/',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      const id = (req.params as { id: string }).id;
      const userId = userIdHeader(req);
      const c = userId ? connectionOf(ctx, app, req, res, id) : auth.connections.list({ applicationId: app.applicationId, vehicleId: id })[0];
      if (!c) throw v3Errors.vehicleNotFound(id);
      res.json({ data: { id, type: 'vehicle', attributes: vehicleAttributes(c), links: { self: `/vehicles/${id}` } } });
    }),
  );

  const readable = (req: express.Request, res: express.Response) => {
    const app = appOf(ctx, req, res);
    const c = connectionOf(ctx, app, req, res, (req.params as { id: string }).id);
    const limited = carFault(c.vehicle, 'signals', opts.retryAfterSec);
    if (limited?.status === 429) throw limited;
    return c;
  };

  router.get(
    '/signals',
    v3Handler((req, res) => {
      const c = readable(req, res);
      const p = pageOf(req.query);
      const id = c.vehicle.id;
      const page = paged(signalsOf(auth, ctx.unreported, c, opts.now()), p, `/vehicles/${id}/signals`, 'flat');
      const included = { vehicle: { id, type: 'vehicle', attributes: vehicleAttributes(c), links: { self: `/vehicles/${id}` } } };
      res.json({ ...page, included });
    }),
  );

  router.get(
    '/signals/:code',
    v3Handler((req, res) => {
      const c = readable(req, res);
      const code = (req.params as { code: string }).code;
      res.json(found(signalsOf(auth, ctx.unreported, c, opts.now()).find((s) => s.id === code)));
    }),
  );

  router.post(
    '/commands/:group/:action',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      const p = req.params as { id: string; group: string; action: string };
      const def = commandDef(`${p.group}/${p.action}`);
      if (!def) throw v3Errors.invalidPath();
      const c = connectionOf(ctx, app, req, res, p.id);
      const { status, execution } = ctx.executions.run({
        applicationId: app.applicationId,
        vehicle: c.vehicle,
        state: auth.vehicleState(c.vehicle.id),
        def,
        body: req.body,
        permissions: c.permissions,
        now: opts.now,
        durationMs: opts.commandDurationMs,
        retryAfterSec: opts.retryAfterSec,
        done: () => ctx.webhooks.vehicleChanged(app.applicationId, c.vehicle.id),
      });
      res.status(status).json({ data: execution });
    }),
  );

  router.get(
    '/commands/executions/:executionId',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      const p = req.params as { id: string; executionId: string };
      connectionOf(ctx, app, req, res, p.id);
      res.json({ data: found(ctx.executions.get(app.applicationId, p.id, p.executionId)) });
    }),
  );

  // v2-style paths (`/v3/vehicles/{id}/battery`) and anything else.
  router.use(
    v3Handler((req, res) => {
      appOf(ctx, req, res);
      throw v3Errors.invalidPath();
    }),
  );

  return router;
}

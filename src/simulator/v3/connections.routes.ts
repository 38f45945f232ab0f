import express, { type Request, type Response, type Router } from 'express';
import type { Connection } from '../connections';
import { ApiError, apiErrors } from '../errors';
import type { V3App } from './app.tokens';
import { appOf, found, pageOf, paged, recordOf, userIdHeader, v3Handler, type V3Context } from './context';
import { v3Errors } from './errors';
import { vehicleAttributes } from './vehicle.view';

/**
 * Who connected what: API v3's Connections API (`/v3/connections`, `DELETE /v3/users/{id}`, Bearer
 * application token) and v2's management API (`/v2.0/management/connections`, Basic
 * `default:<management token>`), both over the one connection store. Deleting a connection (or a
 * user) also takes the car(s) away from that user's v2 tokens and ends its webhook subscriptions.
 */

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function connectionResource(ctx: V3Context, c: Connection) {
  const externalId = ctx.auth.connections.externalIdOf(c.applicationId, c.user.id);
  return {
    id: c.id,
    type: 'connection',
    attributes: { permissions: c.permissions, vehicle: vehicleAttributes(c), user: { externalId } },
    relationships: {
      vehicle: { data: { id: c.vehicle.id, type: 'vehicle' }, links: { related: `/vehicles/${c.vehicle.id}` } },
      user: { data: { id: c.user.id, type: 'user' } },
    },
    meta: { createdAt: new Date(c.connectedAt).toISOString(), updatedAt: new Date(c.updatedAt).toISOString() },
    links: { self: `/connections/${c.id}` },
  };
}

function revoke(ctx: V3Context, removed: Connection[]): void {
  for (const c of removed) ctx.auth.revokeAccess(c.applicationId, c.user.id, c.vehicle.id);
}

/** v2's management API authenticates with Basic `default:<AMT>`. */
function managedApp(ctx: V3Context, authorization: string | undefined): V3App {
  const match = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const app = ctx.tokens.apps().find((a) => decoded === `default:${a.credentials.managementToken}`);
  if (!app) throw apiErrors.authentication();
  return app;
}

export function connectionsRoutes(ctx: V3Context): Router {
  const router = express.Router();
  const store = ctx.auth.connections;

  router.get(
    '/v3/connections',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      const q = req.query as Record<string, unknown>;
      const mode = str(q['filter[vehicle.mode]']);
      if (mode !== undefined && mode !== 'live' && mode !== 'simulated') throw v3Errors.validation('"filter[vehicle.mode]" must be live or simulated.');
      const userId = str(q['filter[userId]']) ?? userIdHeader(req);
      const list = store.list({
        applicationId: app.applicationId,
        userId,
        vehicleId: str(q['filter[vehicleId]']),
        externalId: str(q['filter[user.externalId]']),
        mode,
      });
      const page = paged(list.map((c) => connectionResource(ctx, c)), pageOf(q), '/connections', 'jsonapi');
      res.json(page);
    }),
  );

  router.get(
    '/v3/connections/:id',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      res.json({ data: connectionResource(ctx, found(store.get(app.applicationId, (req.params as { id: string }).id))) });
    }),
  );

  router.delete(
    '/v3/connections/:id',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      const c = found(store.get(app.applicationId, (req.params as { id: string }).id));
      recordOf(res).vehicleId = c.vehicle.id;
      revoke(ctx, store.removeWhere({ applicationId: app.applicationId, userId: c.user.id, vehicleId: c.vehicle.id }));
      res.status(204).end();
    }),
  );

  router.delete(
    '/v3/users/:userId',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      const userId = (req.params as { userId: string }).userId;
      recordOf(res).userId = userId;
      const removed = store.removeWhere({ applicationId: app.applicationId, userId });
      if (removed.length === 0) throw v3Errors.notFound();
      revoke(ctx, removed);
      ctx.auth.revokeAccess(app.applicationId, userId, null);
      res.status(204).end();
    }),
  );

  const v2 = (fn: (req: Request, res: Response) => void) => (req: Request, res: Response) => {
    recordOf(res).kind = 'api';
    try {
      fn(req, res);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      res.status(err.status).set(err.headers()).json(err.body(res.locals.requestId as string));
    }
  };

  router.get(
    '/v2.0/management/connections',
    v2((req, res) => {
      const app = managedApp(ctx, req.headers.authorization);
      const q = req.query as Record<string, unknown>;
      const limit = str(q.limit) === undefined ? 10 : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw apiErrors.validation('"limit" must be an integer from 1 to 100.');
      const mode = str(q.mode);
      const all = store
        .list({ applicationId: app.applicationId, userId: str(q.user_id), vehicleId: str(q.vehicle_id) })
        .filter((c) => mode === undefined || c.mode === mode);
      // The cursor is the id of the last connection of the previous page.
      const cursor = str(q.cursor);
      const start = cursor === undefined ? 0 : all.findIndex((c) => c.id === cursor) + 1;
      if (cursor !== undefined && start === 0) throw apiErrors.validation('"cursor" is not valid.');
      const page = all.slice(start, start + limit);
      const more = start + limit < all.length;
      res.json({
        connections: page.map((c) => ({ userId: c.user.id, vehicleId: c.vehicle.id, connectedAt: new Date(c.connectedAt).toISOString(), mode: c.mode })),
        paging: { cursor: more ? page[page.length - 1]!.id : null },
      });
    }),
  );

  router.delete(
    '/v2.0/management/connections',
    v2((req, res) => {
      const app = managedApp(ctx, req.headers.authorization);
      const q = req.query as Record<string, unknown>;
      const userId = str(q.user_id);
      const vehicleId = str(q.vehicle_id);
      if ((userId === undefined) === (vehicleId === undefined)) throw apiErrors.validation('Filter by exactly one of user_id or vehicle_id.');
      const removed = store.removeWhere({ applicationId: app.applicationId, userId, vehicleId });
      revoke(ctx, removed);
      res.json({ connections: removed.map((c) => ({ userId: c.user.id, vehicleId: c.vehicle.id })) });
    }),
  );

  return router;
}


import express, { type Router } from 'express';
import { appOf, found, pageOf, paged, recordOf, v3Handler, type V3Context } from './context';
import { v3Errors } from './errors';
import { vehicleAttributes } from './vehicle.view';
import type { Subscription } from './webhooks';

/** The management API's webhook subscriptions (`/v3/subscriptions`, Bearer application token). */

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function subscriptionsRoutes(ctx: V3Context): Router {
  const router = express.Router();

  const resource = (s: Subscription) => {
    const c = ctx.auth.connections.find(s.applicationId, s.userId, s.vehicleId);
    const at = new Date(s.createdAt).toISOString();
    return {
      type: 'subscription',
      id: s.id,
      attributes: { vehicle: c ? vehicleAttributes(c) : null },
      meta: { createdAt: at, updatedAt: at },
      relationships: {
        webhook: { data: { id: s.webhookId, type: 'webhook' } },
        user: { data: { id: s.userId, type: 'user' } },
        vehicle: { data: { id: s.vehicleId, type: 'vehicle' } },
      },
      links: { self: `/subscriptions/${s.id}` },
    };
  };

  router.post(
    '/',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      const a = (req.body as { data?: { attributes?: Record<string, unknown> } } | undefined)?.data?.attributes ?? {};
      const webhookId = str(a.webhookId);
      const userId = str(a.userId);
      const vehicleId = str(a.vehicleId);
      if (!webhookId || !userId || !vehicleId) throw v3Errors.validation('"data.attributes" needs webhookId, userId and vehicleId.');
      Object.assign(recordOf(res), { userId, vehicleId });
      const { created } = ctx.webhooks.subscribe(app, { webhookId, userId, vehicleId });
      if (!created) throw v3Errors.conflict('This vehicle is already subscribed to this webhook.');
      res.status(202).json({ meta: { message: 'subscription creation in progress' } });
    }),
  );

  router.get(
    '/',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      const q = req.query as Record<string, unknown>;
      const list = ctx.webhooks.list(app.applicationId, { webhookId: str(q['filter[webhookId]']), userId: str(q['filter[userId]']), vehicleId: str(q['filter[vehicleId]']) });
      res.json(paged(list.map(resource), pageOf(q), '/subscriptions', 'jsonapi'));
    }),
  );

  router.get(
    '/:id',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      res.json({ data: resource(found(ctx.webhooks.get(app.applicationId, (req.params as { id: string }).id))) });
    }),
  );

  router.delete(
    '/:id',
    v3Handler((req, res) => {
      const app = appOf(ctx, req, res);
      ctx.webhooks.remove(found(ctx.webhooks.get(app.applicationId, (req.params as { id: string }).id)).id);
      res.status(204).end();
    }),
  );

  return router;
}

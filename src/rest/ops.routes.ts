import express, { type Router } from 'express';
import type { Logger } from '../logger';
import { registry } from '../metrics';
import type { RedisClient } from '../redis';

/** For whoever runs the gateway: liveness, readiness (Redis reachable) and Prometheus metrics. */
export function opsRoutes(redis: RedisClient, logger: Logger): Router {
  const router = express.Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    try {
      await redis.ping(); // bounded by the client's command timeout
      res.json({ status: 'ready' });
    } catch (err) {
      logger.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'not ready: redis unreachable');
      res.status(503).json({ status: 'unavailable', redis: 'unreachable' });
    }
  });

  router.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });

  return router;
}

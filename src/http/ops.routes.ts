import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logger';
import { registry } from '../metrics';
import type { RedisClient } from '../redis';

/** For whoever runs the gateway: liveness, readiness (Redis reachable) and Prometheus metrics. Not rate-limited. */
export function opsRoutes(redis: RedisClient, logger: Logger) {
  return async (app: FastifyInstance) => {
    const status = (...values: string[]) => ({ type: 'object', required: ['status'], properties: { status: { type: 'string', enum: values } } });
    app.get('/healthz', { config: { rateLimited: false }, schema: { response: { 200: status('ok') } } }, async () => ({ status: 'ok' }));

    app.get(
      '/readyz',
      {
        config: { rateLimited: false },
        schema: {
          response: {
            200: status('ready'),
            503: { type: 'object', required: ['status', 'redis'], properties: { status: { type: 'string' }, redis: { type: 'string' } } },
          },
        },
      },
      async (_request, reply) => {
        try {
          await redis.ping(); // bounded by the client's command timeout
          return { status: 'ready' };
        } catch (err) {
          logger.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'not ready: redis unreachable');
          return reply.code(503).send({ status: 'unavailable', redis: 'unreachable' });
        }
      },
    );

    app.get('/metrics', { config: { rateLimited: false } }, async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  };
}

import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logger';
import { metrics } from '../metrics';
import type { WebhookReceiver } from '../live/webhook.receiver';

/** Smartcar's own limit on a delivery is 50 KB. */
const WEBHOOK_BODY_LIMIT = 64 * 1024;

/**
 * `POST /webhooks/smartcar`: the raw bytes go to the receiver (the signature is over them, so no
 * parser may touch them first), whatever the content type. Not rate-limited per address: Smartcar
 * delivers from few addresses in bursts, every delivery is authenticated by its signature, and a
 * refused one costs one HMAC. Without an Application Management Token nothing can be verified: 503,
 * which Smartcar retries, so nothing is lost while it is being configured.
 */
export function webhookRoute(receiver: WebhookReceiver | null, logger: Logger) {
  return async (app: FastifyInstance) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => done(null, body));
    let warned = false;
    app.post('/webhooks/smartcar', { config: { rateLimited: false } }, async (request, reply) => {
      if (!receiver) {
        if (!warned) logger.warn('a Smartcar webhook arrived, but SMARTCAR_MANAGEMENT_TOKEN is not set: answered 503 (Smartcar retries)');
        warned = true;
        metrics.webhooks.inc({ type: 'unknown', outcome: 'unconfigured' });
        return reply.code(503).send({ error: 'webhooks are not configured' });
      }
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const signature = request.headers['sc-signature'];
      const answer = await receiver.handle(raw, Array.isArray(signature) ? signature[0] : signature);
      metrics.webhooks.inc({ type: answer.type, outcome: answer.outcome });
      return reply.code(answer.status).type('application/json').send(answer.body);
    });
  };
}

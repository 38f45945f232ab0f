import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../logger';
import { countRequest } from '../metrics';

/**
 * Fastify's own request logging, reshaped: one `request` line per answer (method, path, status,
 * ms), carrying the request's `requestId` like every line logged for it; no separate "incoming"
 * line, and no line of Fastify's own for errors the REST error writer already answered and logged.
 */
export class AccessLog extends LogController {
  /**
   * The line of a request answered without error: its five fields are fixed and none can hold a
   * secret, so it skips the logger's redaction, which walks every key of the line for its wildcard
   * paths and was half the line's cost. Lines with an error keep the request's logger and redaction.
   */
  private readonly lines: Logger;

  constructor(logger: Logger) {
    super({ requestIdLogLabel: 'requestId' });
    this.lines = logger.child({}, { redact: [] });
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const ms = Math.round(reply.elapsedTime * 1000) / 1000;
    if (error) request.log.warn({ method: request.method, path: pathOf(request), status: reply.statusCode, ms, err: error }, 'request');
    else if (this.lines.isLevelEnabled('info')) this.lines.info({ requestId: request.id, method: request.method, path: pathOf(request), status: reply.statusCode, ms }, 'request');
  }

  override routeNotFound(): void {}

  override defaultErrorLog(): void {}
}

const pathOf = (request: FastifyRequest) => {
  const q = request.url.indexOf('?');
  return q === -1 ? request.url : request.url.slice(0, q);
};

const REST_OPERATIONS = new Set(['/connect', '/exchange', '/vehicle']);

/** onResponse: REST answers counted by route and outcome (GraphQL operations are counted by the Apollo plugin, with their names). */
export function countRestRequest(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  const path = pathOf(request);
  if (!path.startsWith('/graphql')) {
    const operation = REST_OPERATIONS.has(path) ? `${request.method} ${path}` : 'other';
    countRequest(operation, reply.statusCode < 400 ? 'ok' : `http_${reply.statusCode}`);
  }
  done();
}

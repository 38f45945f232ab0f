import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HTTP_STATUS, toAppError, type ErrorCode } from '../errors';
import { logFailure } from '../graphql/format-error';
import type { Logger } from '../logger';

/**
 * The one REST error writer: `{"error": {"code", "message", …}}` with the status of the code.
 * Every REST answer that is not a success goes through here (route failures, malformed requests,
 * unknown routes, rate limits), so the body has one shape everywhere.
 */

export interface RestErrorBody {
  error: { code: string; message: string; [extra: string]: unknown };
}

export function sendRestError(reply: FastifyReply, code: ErrorCode, message: string, extra: Record<string, unknown> = {}, status = HTTP_STATUS[code]): FastifyReply {
  const body: RestErrorBody = { error: { code, message, ...extra } };
  return reply.code(status).send(body);
}

/** JSON schema of that body, for the routes' `4xx`/`5xx` responses. */
export const REST_ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, retryAfter: { type: 'integer' } },
      additionalProperties: true,
    },
  },
} as const;

const MALFORMED = 'Malformed request.';

/**
 * Fastify's error handler. A request Fastify itself refused (bad JSON, a body over the limit, a query
 * string its schema rejects) is the caller's: its 4xx with BAD_USER_INPUT. A route's failure is
 * mapped by the error vocabulary (its code, its status, logged when worth it); anything unknown is
 * masked as INTERNAL_SERVER_ERROR and logged.
 */
export function restErrorHandler(logger: Logger) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const status = err.statusCode;
    if (err.validation) return sendRestError(reply, 'BAD_USER_INPUT', `${err.validationContext ?? 'request'}: ${err.validation[0]?.message ?? 'invalid'}`.slice(0, 200));
    if (status !== undefined && status >= 400 && status < 500) return sendRestError(reply, 'BAD_USER_INPUT', MALFORMED, {}, status);
    const app = toAppError(err);
    logFailure(logger, app, { requestId: request.id });
    return sendRestError(reply, app.code, app.message);
  };
}

/** Errors Fastify raises before any route runs (a URL it cannot decode, a bad content type header). */
export function frameworkError(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
  void sendRestError(reply, 'BAD_USER_INPUT', MALFORMED, {}, status);
}

export function notFound(_request: FastifyRequest, reply: FastifyReply): void {
  void sendRestError(reply, 'NOT_FOUND', 'No such route.');
}

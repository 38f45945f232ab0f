import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { AppError, toAppError, UpstreamError } from '../errors';
import type { Logger } from '../logger';

/**
 * The GraphQL error boundary: our errors keep their code, message and extensions; Apollo's own
 * request errors (syntax, validation, variable coercion) pass; anything else is masked and logged.
 * It never throws, and never lets a stack trace or an upstream body out.
 */

const APOLLO_REQUEST_ERRORS = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

export function logFailure(logger: Logger, err: AppError, path?: readonly (string | number)[]): void {
  const cause = err.cause;
  if (err.code === 'INTERNAL_SERVER_ERROR') {
    logger.error({ err: cause instanceof Error ? cause : err, path }, 'internal error');
  } else if (cause instanceof UpstreamError) {
    logger.warn({ upstream: { kind: cause.kind, status: cause.status, ...cause.details }, code: err.code, path }, 'smartcar call failed');
  } else if (err.code === 'SERVICE_UNAVAILABLE') {
    logger.error({ err: cause instanceof Error ? { name: cause.name, message: cause.message } : undefined, path }, 'redis unavailable');
  }
}

export function createFormatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const base = {
      ...(formatted.locations && { locations: formatted.locations }),
      ...(formatted.path && { path: formatted.path }),
    };
    try {
      const original = unwrapResolverError(error);
      if (original instanceof AppError || original instanceof UpstreamError) {
        const app = toAppError(original);
        logFailure(logger, app, formatted.path);
        return { message: app.message, ...base, extensions: { ...app.extensions, code: app.code } };
      }
      const code = formatted.extensions?.code;
      if (typeof code === 'string' && APOLLO_REQUEST_ERRORS.has(code)) {
        return { message: formatted.message, ...base, extensions: { code } };
      }
      logger.error({ err: original instanceof Error ? original : { value: String(original) }, path: formatted.path }, 'unexpected error');
    } catch (formatFailure) {
      logger.error({ err: formatFailure }, 'formatError failed');
    }
    return { message: 'Internal server error', ...base, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}

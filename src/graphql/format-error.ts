import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { AppError, toAppError, UpstreamError } from '../errors';
import type { Logger } from '../logger';

/**
 * The GraphQL error boundary: our errors keep their code, message and extensions; Apollo's own
 * request errors (syntax, validation, variable coercion) pass; anything else is masked (and logged
 * by errorLogPlugin). It never throws, and never lets a stack trace or an upstream body out.
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

export function logFailure(logger: Logger, err: AppError, where: { path?: readonly (string | number)[]; requestId?: string } = {}): void {
  const cause = err.cause;
  if (err.code === 'INTERNAL_SERVER_ERROR') {
    logger.error({ err: cause instanceof Error ? cause : err, ...where }, 'internal error');
  } else if (cause instanceof UpstreamError) {
    logger.warn({ upstream: { kind: cause.kind, status: cause.status, ...cause.details }, code: err.code, ...where }, 'smartcar call failed');
  } else if (err.code === 'SERVICE_UNAVAILABLE') {
    logger.error({ err: cause instanceof Error ? { name: cause.name, message: cause.message } : undefined, ...where }, 'redis unavailable');
  }
}

/** The client's view of an error: ours keep code, message and extensions; Apollo's request errors pass. */
function classify(error: unknown, code: unknown): AppError | 'apollo' {
  const original = unwrapResolverError(error);
  if (original instanceof AppError || original instanceof UpstreamError) return toAppError(original);
  if (typeof code === 'string' && APOLLO_REQUEST_ERRORS.has(code)) return 'apollo';
  return toAppError(original);
}

export function createFormatError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const base = {
      ...(formatted.locations && { locations: formatted.locations }),
      ...(formatted.path && { path: formatted.path }),
    };
    try {
      const c = classify(error, formatted.extensions?.code);
      if (c === 'apollo') return { message: formatted.message, ...base, extensions: { code: formatted.extensions!.code } };
      return { message: c.message, ...base, extensions: { ...c.extensions, code: c.code } };
    } catch (formatFailure) {
      logger.error({ err: formatFailure }, 'formatError failed');
    }
    return { message: 'Internal server error', ...base, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
}

/** Logs what went wrong, with the request's id (formatError has no access to the request). */
export function errorLogPlugin(logger: Logger): ApolloServerPlugin<{ requestId: string }> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          for (const e of errors) {
            const c = classify(e, e.extensions?.code);
            if (c !== 'apollo') logFailure(logger, c, { path: e.path, requestId: contextValue.requestId });
          }
        },
      };
    },
  };
}

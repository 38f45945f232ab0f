import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
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
  'PERSISTED_QUERY_NOT_ALLOWED', // trusted documents (trusted-documents.ts)
]);

type Where = { path?: readonly (string | number)[]; requestId?: string };

/** The failures worth a log line (the others are the caller's doing, answered and not logged), worst first. */
const LOGGED: { test: (e: AppError) => boolean; level: 'error' | 'warn'; msg: string }[] = [
  { test: (e) => e.code === 'INTERNAL_SERVER_ERROR', level: 'error', msg: 'internal error' },
  { test: (e) => e.code === 'SERVICE_UNAVAILABLE', level: 'error', msg: 'redis unavailable' },
  { test: (e) => e.cause instanceof UpstreamError, level: 'warn', msg: 'smartcar call failed' },
];

function detail(err: AppError): Record<string, unknown> {
  const cause = err.cause;
  if (err.code === 'INTERNAL_SERVER_ERROR') return { err: cause instanceof Error ? cause : err };
  if (cause instanceof UpstreamError) return { upstream: { kind: cause.kind, status: cause.status, smartcar: cause.details } };
  return { err: cause instanceof Error ? { name: cause.name, message: cause.message } : undefined };
}

/**
 * One line per request, however many fields failed: a dashboard of 100 readings while Smartcar is
 * down is one event, not 100. The line is that of the worst failure (with its detail and path);
 * `failures` counts every logged failure of the request and `codes` tallies them.
 */
export function logFailures(logger: Logger, failures: readonly { err: AppError; path?: readonly (string | number)[] }[], requestId?: string): void {
  const logged = failures.filter((f) => LOGGED.some((l) => l.test(f.err)));
  const kind = LOGGED.find((l) => logged.some((f) => l.test(f.err)));
  if (!kind) return;
  const worst = logged.find((f) => kind.test(f.err))!;
  const codes: Record<string, number> = {};
  for (const f of logged) codes[f.err.code] = (codes[f.err.code] ?? 0) + 1;
  logger[kind.level](
    {
      ...detail(worst.err),
      code: worst.err.code,
      ...(worst.path && { path: worst.path }),
      ...(requestId && { requestId }),
      ...(logged.length > 1 && { failures: logged.length, codes }),
    },
    kind.msg,
  );
}

export function logFailure(logger: Logger, err: AppError, where: Where = {}): void {
  logFailures(logger, [{ err, ...(where.path && { path: where.path }) }], where.requestId);
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
          const failures: { err: AppError; path?: readonly (string | number)[] }[] = [];
          for (const e of errors) {
            const c = classify(e, e.extensions?.code);
            if (c !== 'apollo') failures.push({ err: c, ...(e.path && { path: e.path }) });
          }
          logFailures(logger, failures, contextValue.requestId);
        },
      };
    },
  };
}

/**
 * The same boundary outside Apollo (subscriptions over WebSocket): each error formatted as Apollo's
 * formatError would, and one log line for the failures worth one.
 */
export function createErrorsFormatter(logger: Logger) {
  const format = createFormatError(logger);
  return (errors: readonly GraphQLError[], requestId?: string): GraphQLFormattedError[] => {
    const failures: { err: AppError; path?: readonly (string | number)[] }[] = [];
    for (const e of errors) {
      const c = classify(e, e.extensions?.code);
      if (c !== 'apollo') failures.push({ err: c, ...(e.path && { path: e.path }) });
    }
    logFailures(logger, failures, requestId);
    return errors.map((e) => format(e.toJSON(), e));
  };
}

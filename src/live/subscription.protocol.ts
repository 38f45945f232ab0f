import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { getOperationAST, GraphQLError, parse, specifiedRules, validate, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import { makeServer, type Server } from 'graphql-ws';
import type WebSocket from 'ws';
import type { Config } from '../config';
import { validationRulesFor } from '../graphql/apollo';
import type { GraphQLContext } from '../graphql/context';
import { createErrorsFormatter } from '../graphql/format-error';
import { PERSISTED_QUERY_NOT_ALLOWED, type TrustedDocuments } from '../graphql/trusted-documents';
import type { Logger } from '../logger';
import { metrics } from '../metrics';
import { readPresentedToken, type PresentedToken } from '../session/session.token';
import type { SignalService } from '../vehicles/signal.service';
import type { VehicleUpdates } from './vehicle-updates';

/**
 * The graphql-transport-ws side of subscriptions (graphql-ws's protocol server; the sockets are
 * subscription.server.ts's). A connection needs a session: connectionParams `authorization: "Bearer
 * <token>"`, or the `sid` cookie of the upgrade request; without one it is closed with 4403 at
 * connection_init. Only subscriptions run here (queries and mutations go over HTTP, with its rate
 * limits and cookies), under the same validation limits and trusted documents as over HTTP, with the
 * same error boundary.
 */

export interface ProtocolOptions {
  schema: GraphQLSchema;
  updates: VehicleUpdates;
  signals: SignalService;
  limits: Config['limits'];
  trustedDocuments: TrustedDocuments | null;
  logger: Logger;
}

/** What graphql-ws carries for each connection. */
export interface Connection {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
  /** Set once connection_init presented a session. */
  presented?: PresentedToken;
}

type Params = Record<string, unknown> | undefined;

export function subscriptionProtocol(options: ProtocolOptions): Server<Connection> {
  const { schema, updates, signals, limits, trustedDocuments, logger } = options;
  const rules = [...specifiedRules, ...validationRulesFor(limits)];
  const formatErrors = createErrorsFormatter(logger);
  return makeServer<Params, Connection>({
    async onConnect(ctx) {
      const authorization = ctx.connectionParams?.authorization;
      const presented = presentedOf(ctx.extra.request, typeof authorization === 'string' ? authorization : undefined);
      if (!presented?.hash) return false;
      try {
        if (!(await updates.session(presented).get())) return false;
      } catch (err) {
        logger.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'subscription connection: session store unavailable');
        ctx.extra.socket.close(1013, 'Try again later'); // the 4403 that follows is then not sent
        return false;
      }
      ctx.extra.presented = presented;
      return true;
    },
    onSubscribe(ctx, _id, payload) {
      const document = parseDocument(payload.query, limits.maxTokens);
      if (!('kind' in document)) return document;
      if (trustedDocuments && !trustedDocuments.bodies.has(payload.query)) {
        return [new GraphQLError("This operation is not one of the gateway's trusted documents.", { extensions: { code: PERSISTED_QUERY_NOT_ALLOWED } })];
      }
      const invalid = validateDocument(schema, document, rules);
      if (invalid.length) return invalid;
      if (getOperationAST(document, payload.operationName)?.operation !== 'subscription') {
        return [new GraphQLError('Only subscriptions run over WebSocket: send queries and mutations to /graphql over HTTP.', { extensions: { code: 'BAD_USER_INPUT' } })];
      }
      const presented = ctx.extra.presented!; // onConnect refused every connection without one
      const session = updates.session(presented);
      const contextValue: GraphQLContext = { requestId: randomUUID(), session, loaders: { signals: signals.cachedLoader(session) }, live: { updates, presented } };
      return { schema, document, operationName: payload.operationName ?? null, variableValues: payload.variables ?? null, contextValue } satisfies ExecutionArgs;
    },
    onNext(_ctx, _id, _payload, args, result) {
      if ('data' in result) metrics.liveEventsSent.inc(); // an event (a refused subscribe has no data)
      if (!result.errors) return;
      return { ...result, errors: formatErrors(result.errors.map(asRequestError), (args.contextValue as GraphQLContext).requestId) };
    },
    onError(_ctx, _id, _payload, errors) {
      return formatErrors(errors);
    },
  });
}

/**
 * The session token of a connection: connectionParams' bearer token first, then the upgrade's `sid`
 * cookie, which counts only from a page of the gateway's own origin (browsers send cookies with a
 * cross-site WebSocket handshake, and the socket has no CORS to stop another site reading it).
 */
function presentedOf(request: IncomingMessage, authorization: string | undefined): PresentedToken | null {
  const cookie = sameOrigin(request) ? request.headers.cookie : undefined;
  return readPresentedToken({ authorization, cookie });
}

function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true; // not a browser
  try {
    return new URL(origin).host.toLowerCase() === (request.headers.host ?? '').toLowerCase();
  } catch {
    return false;
  }
}

/** The document, or its syntax error (or token limit) with Apollo's code for it. */
function parseDocument(query: string, maxTokens: number): DocumentNode | GraphQLError[] {
  try {
    return parse(query, { maxTokens });
  } catch (err) {
    const message = err instanceof GraphQLError ? err.message : 'Syntax error';
    return [new GraphQLError(message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
  }
}

/** graphql-js's rules and the gateway's limits; their errors with Apollo's code (some limits throw theirs). */
function validateDocument(schema: GraphQLSchema, document: DocumentNode, rules: typeof specifiedRules): GraphQLError[] {
  let errors: readonly GraphQLError[];
  try {
    errors = validate(schema, document, rules);
  } catch (err) {
    errors = [err instanceof GraphQLError ? err : new GraphQLError('Invalid operation')];
  }
  return errors.map((e) => new GraphQLError(e.message, { nodes: e.nodes ?? null, extensions: { ...e.extensions, code: 'GRAPHQL_VALIDATION_FAILED' } }));
}

/**
 * An error of graphql-js's own about the request (a variable of the wrong type) has no original
 * error and no code: BAD_USER_INPUT, as Apollo says over HTTP. Resolver errors pass as they are.
 */
function asRequestError(e: GraphQLError): GraphQLError {
  if (e.originalError || e.extensions.code !== undefined || e.path !== undefined) return e;
  return new GraphQLError(e.message, { nodes: e.nodes ?? null, extensions: { code: 'BAD_USER_INPUT' } });
}

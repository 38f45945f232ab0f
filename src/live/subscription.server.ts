import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { getOperationAST, GraphQLError, parse, specifiedRules, validate, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
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
 * GraphQL over WebSocket (`graphql-transport-ws`, graphql-ws on ws) on the gateway's own socket, path
 * `/graphql`. A connection needs a session (connectionParams `authorization: "Bearer <token>"`, or the
 * `sid` cookie of the upgrade request): without one it is closed with 4403 at connection_init. Only
 * subscriptions run here (queries and mutations go over HTTP, with its rate limits and cookies), under
 * the same validation limits and trusted documents as over HTTP, with the same error boundary.
 */

export interface SubscriptionServerOptions {
  /** The gateway's HTTP server: its `upgrade` event. */
  server: Server;
  schema: GraphQLSchema;
  updates: VehicleUpdates;
  signals: SignalService;
  limits: Config['limits'];
  trustedDocuments: TrustedDocuments | null;
  production: boolean;
  logger: Logger;
  /** A ws ping this often; a socket that does not answer one within as long is terminated. */
  keepAliveMs?: number;
}

export interface SubscriptionServer {
  /**
   * Refuses new upgrades at once; once the HTTP connections have ended (at most DRAIN_MS), completes
   * every subscription and closes every socket with 1001 (going away).
   */
  close(): Promise<void>;
}

export const KEEP_ALIVE_MS = 30_000;
/** A subscribe message is a document and its variables: bounded like an HTTP body. */
export const MAX_PAYLOAD = 64 * 1024;
/** How long close() waits for the HTTP connections (Apollo's drain force-closes them after 10 s too). */
const DRAIN_MS = 10_000;
const PATH = /^\/graphql\/?$/i;

type Connection = { presented?: PresentedToken };

export function startSubscriptionServer(options: SubscriptionServerOptions): SubscriptionServer {
  const { server, schema, updates, signals, limits, trustedDocuments, logger } = options;
  const rules = [...specifiedRules, ...validationRulesFor(limits)];
  const formatErrors = createErrorsFormatter(logger);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD });
  let closing = false;

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined); // a client gone mid-handshake: nothing to do
    if (closing) return refuse(socket, 503, 'Service Unavailable');
    if (!PATH.test(pathOf(request.url))) return refuse(socket, 404, 'Not Found');
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (closing) ws.close(1001, 'Going away');
      else wss.emit('connection', ws, request);
    });
  };
  server.on('upgrade', onUpgrade);

  const graphqlWs = useServer<Record<string, unknown> | undefined, Connection>(
    {
      isProd: options.production,
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
    },
    wss,
    options.keepAliveMs ?? KEEP_ALIVE_MS,
  );

  let closed: Promise<void> | null = null;
  return {
    close: () =>
      (closed ??= (async () => {
        closing = true;
        await httpDrained(server, wss, DRAIN_MS);
        updates.endAll();
        // Each ended stream sends its `complete` within the current round of promise jobs (one still
        // reading Redis for an event may miss the socket, which the client sees as the 1001 alone).
        await new Promise((resolve) => setImmediate(resolve));
        await graphqlWs.dispose(); // 1001 "Going away" to every socket
        server.off('upgrade', onUpgrade);
      })()),
  };
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

function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://gateway').pathname;
  } catch {
    return '';
  }
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
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

/**
 * Resolves once the server's sockets are the WebSockets alone (every HTTP request answered and its
 * connection closed), or after `ms`. The HTTP server's close() waits for every socket, WebSockets
 * included, so they must be closed by us, and only then: requests in flight are answered before the
 * subscriptions end. close() closes the keep-alive connections idle at that moment only; one whose
 * request ends later would stay until its client lets go (undici: 4 s), so it is closed here once
 * idle (upgraded sockets are not among them).
 */
async function httpDrained(server: Server, wss: WebSocketServer, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!server.listening) server.closeIdleConnections();
    const sockets = await new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
    if (sockets <= wss.clients.size) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TrustProxy } from '../config';
import type { Logger } from '../logger';
import { AccessLog, countRestRequest } from './access-log';
import type { EarlyListener } from './listener';
import { frameworkError, notFound, restErrorHandler } from './rest-error';

/** Bodies over this get 413 (GraphQL documents are bounded far below by GRAPHQL_MAX_TOKENS). */
export const BODY_LIMIT = 64 * 1024;

export interface Edge {
  app: FastifyInstance;
  /** Once every route is registered: Fastify takes over the early listener's socket. */
  open(): Promise<void>;
}

/**
 * The Fastify instance on the early listener's socket, with what every route shares: the request id
 * (`x-request-id`), the access line, REST metrics, the REST error writer and the 404.
 */
export function createEdge(listener: EarlyListener, logger: Logger, trustProxy: TrustProxy): Edge {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger, // pino: the project's logger, its redaction included
    logController: new AccessLog(logger),
    genReqId: () => randomUUID(),
    requestIdHeader: false, // never a client-chosen id: it keys log lines
    bodyLimit: BODY_LIMIT,
    // The routes' schemas are this code's own, fixed and exercised by the tests: checking each against
    // JSON Schema's meta-schema first made ajv compile that meta-schema at every start (5 % of a start).
    ajv: { customOptions: { validateSchema: false } },
    // Never `true`: Fastify would then trust every hop and take the client's own leftmost entry.
    // A hop count is proxy-addr's "the last n entries" (what Fastify does with a number).
    trustProxy: trustProxy === false ? false : 'hops' in trustProxy ? (_address: string, hop: number) => hop < trustProxy.hops : trustProxy.addresses,
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false },
    frameworkErrors: frameworkError,
    serverFactory: (h) => {
      handler = h;
      return listener.server;
    },
  });
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', countRestRequest);
  app.setErrorHandler(restErrorHandler(logger));
  app.setNotFoundHandler(notFound);
  // The socket is not Fastify's own listen: close it with Fastify (Apollo's drain plugin closes Fastify).
  app.addHook('onClose', (_instance, done) => void listener.server.close(() => done()));
  return {
    app,
    async open() {
      await app.ready();
      listener.handOver(handler!);
    },
  };
}

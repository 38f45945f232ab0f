import type { ApolloServer } from '@apollo/server';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GraphQLContext } from '../graphql/context';
import type { SignalService } from '../vehicles/signal.service';
import type { RequestSessionFactory } from './session';

export interface GraphQLRouteDeps {
  apollo: ApolloServer<GraphQLContext>;
  signals: SignalService;
  requestSession: RequestSessionFactory;
}

/** A JSON body that is not an object or an array (`"x"`, `1`): refused like any malformed body. */
class MalformedBody extends Error {
  readonly statusCode = 400;
}

/**
 * `/graphql`: Apollo Server through @as-integrations/fastify. Every method reaches Apollo, which
 * answers what it does not support (405) and applies its CSRF rule. Bodies: JSON objects (an empty
 * body counts as `{}`); any other content type is read (within the body limit) and handed on as no
 * body at all, so that Apollo, not the framework, decides: a simple content type is a CSRF refusal.
 */
export function graphqlRoute(deps: GraphQLRouteDeps) {
  return async (app: FastifyInstance) => {
    const json = app.getDefaultJsonParser('remove', 'remove');
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, raw, done) => {
      const body = typeof raw === 'string' ? raw : raw.toString('utf8');
      if (body === '') return done(null, {});
      json(request, body, (err, parsed) => {
        if (err) return done(err, undefined);
        if (parsed === null || typeof parsed !== 'object') return done(new MalformedBody('A JSON body must be an object or an array.'), undefined);
        done(null, parsed);
      });
    });
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));

    const context = async (request: FastifyRequest, reply: FastifyReply): Promise<GraphQLContext> => {
      const session = deps.requestSession(request, reply);
      return { requestId: request.id, session, loaders: { signals: deps.signals.loader(session) } };
    };
    app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url: '/graphql', handler: fastifyApolloHandler(deps.apollo, { context }) });
  };
}

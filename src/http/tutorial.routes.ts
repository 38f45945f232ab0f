import type { FastifyInstance } from 'fastify';
import type { ConnectRedirect, ConnectService } from '../connect/connect.service';
import { badInput } from '../errors';
import type { SignalService } from '../vehicles/signal.service';
import type { VehicleService } from '../vehicles/vehicle.service';
import { REST_ERROR_SCHEMA } from './rest-error';
import type { RequestSessionFactory } from './session';

/**
 * The routes of Smartcar's getting-started backends (see the README), so the tutorial apps work
 * unchanged: `/exchange?code=…` (v3: `?user_id=…&state=…`) then `/vehicle` → `{id, make, model, year}`; and `/connect`, which
 * starts Connect from a browser with a state bound to its session. Thin: the same services as GraphQL.
 * Their failures go to the REST error writer (Fastify's error handler).
 */

export interface TutorialDeps {
  connect: ConnectService;
  vehicles: VehicleService;
  signals: SignalService;
  requestSession: RequestSessionFactory;
}

/** Query strings: every parameter optional here (the handlers say which is missing, in the vocabulary's words). */
const query = <K extends string>(...names: K[]) => ({
  type: 'object',
  properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])) as Record<K, { type: 'string' }>,
});
const errors = { '4xx': REST_ERROR_SCHEMA, '5xx': REST_ERROR_SCHEMA };

type ExchangeQuery = { code?: string; user_id?: string; state?: string; error?: string };

/** Connect's redirect parameters from `/exchange`'s query (v2: `code`; v3: `user_id`; both: `state`). */
export function redirectOf(query: ExchangeQuery): ConnectRedirect {
  return { code: query.code || null, userId: query.user_id || null, state: query.state || null, error: query.error || null };
}

export function tutorialRoutes(deps: TutorialDeps) {
  return async (app: FastifyInstance) => {
    app.get<{ Querystring: { make?: string } }>('/connect', { schema: { querystring: query('make'), response: errors } }, async (request, reply) => {
      const url = await deps.connect.connectUrl(deps.requestSession(request, reply), { make: request.query.make ?? null });
      // The location carries a state bound to this session: no cache may hand it to anyone else.
      return reply.header('cache-control', 'no-store').redirect(url, 302);
    });

    app.get<{ Querystring: ExchangeQuery }>(
      '/exchange',
      { schema: { querystring: query('code', 'user_id', 'state', 'error'), response: errors } },
      async (request, reply) => {
        const redirect = redirectOf(request.query);
        // A browser sent here by another site with a bare code is how login CSRF arrives: someone else's
        // car would land in this browser's session. Connect's own redirect carries our state; the tutorial
        // app's request is not a browser navigation and has no Fetch Metadata. Whatever SMARTCAR_REQUIRE_STATE says.
        if (redirect.error === null && redirect.state === null && request.headers['sec-fetch-site'] === 'cross-site') {
          throw badInput('state: required when a browser arrives from another site. Start at /connect.');
        }
        await deps.connect.complete(deps.requestSession(request, reply), redirect);
        return reply.redirect('/vehicle', 302);
      },
    );

    app.get<{ Querystring: { id?: string } }>(
      '/vehicle',
      {
        schema: {
          querystring: query('id'),
          response: {
            200: {
              type: 'object',
              required: ['id', 'make', 'model', 'year'],
              properties: { id: { type: 'string' }, make: { type: 'string' }, model: { type: 'string' }, year: { type: 'integer' } },
            },
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const rs = deps.requestSession(request, reply);
        const id = await deps.vehicles.resolve(rs, request.query.id ?? null);
        const { values } = await deps.signals.loader(rs).load({ vehicleId: id, signal: 'attributes', maxAge: 0 });
        return { id, make: values.make, model: values.model, year: values.year };
      },
    );
  };
}

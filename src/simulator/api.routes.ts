import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { AuthState, Grant } from './auth.state';
import { compatibilityByVin, compatibilityMatrix } from './compatibility';
import { ApiError, apiErrors, OAuthError } from './errors';
import type { ResolvedOptions } from './options';
import type { RecordDraft } from './recorder';
import type { UnitSystem } from './readings';
import { dataAge } from './readings';
import { faultError, findEndpoint, pagingOf, type Endpoint } from './vehicle.endpoints';
import { V2Webhooks } from './v2.webhooks';
import type { SimVehicle } from './world';

/** The Vehicles API v2.0: `/v2.0/user/`, `/v2.0/vehicles/`, and the per-vehicle endpoints and batch. */

interface Answer {
  status: number;
  body: object;
  headers: Record<string, string>;
}

const MAX_BATCH = 30;

/** `/v2.0/vehicles/<id><endpoint>` → the vehicle and the endpoint (`/` for attributes). */
export function vehicleEndpoint(path: string): { vehicleId: string; endpoint: string } | null {
  const parts = path.split('/').filter(Boolean);
  if (parts[0] !== 'v2.0' || parts[1] !== 'vehicles' || parts.length < 3) return null;
  return { vehicleId: parts[2]!, endpoint: '/' + parts.slice(3).join('/') };
}

function unitSystemOf(req: Request): UnitSystem {
  const u = req.headers['sc-unit-system'];
  if (u === undefined || u === 'metric') return 'metric';
  if (u === 'imperial') return 'imperial';
  throw apiErrors.validation('"sc-unit-system" must be one of [metric, imperial].', 'sc-unit-system');
}

function queryOf(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') out[k] = v;
  return out;
}

export function apiRoutes(auth: AuthState, opts: ResolvedOptions): Router {
  const router = express.Router();
  const webhooks = new V2Webhooks(() => opts.clients);

  /**
   * The v2 routes that take no access token: the Compatibility API (HTTP Basic, the client's id and
   * secret) and unsubscribing a webhook (the Application Management Token). Null: not one of them.
   */
  function applicationRoute(req: Request, parts: string[]): Answer | null {
    if (req.method === 'GET' && parts[1] === 'compatibility' && parts.length <= 3) {
      if (parts.length === 3 && parts[2] !== 'matrix') return null;
      try {
        auth.authenticateClient(req.headers.authorization);
      } catch (e) {
        if (e instanceof OAuthError) throw apiErrors.authentication();
        throw e;
      }
      const q = queryOf(req);
      return { status: 200, body: parts.length === 2 ? compatibilityByVin(q) : compatibilityMatrix(q), headers: {} };
    }
    if (req.method === 'DELETE' && parts[1] === 'vehicles' && parts[3] === 'webhooks' && parts.length === 5) {
      return { status: 200, body: webhooks.unsubscribe(req.headers.authorization, parts[2]!, parts[4]!), headers: {} };
    }
    return null;
  }

  /** `POST /vehicles/{id}/webhooks/{webhookId}`, with the vehicle's access token. */
  function subscribeRoute(req: Request, grant: Grant, vehicle: SimVehicle, path: string): Answer | null {
    const m = /^\/webhooks\/([^/]+)$/.exec(path);
    if (!m || req.method !== 'POST') return null;
    return { status: 200, body: webhooks.subscribe(auth.client(grant.clientId)!, vehicle.id, m[1]!), headers: {} };
  }

  function run(grant: Grant, vehicle: SimVehicle, e: Endpoint, req: Request, body: unknown, requestId: string): Answer {
    const now = opts.now();
    const units = unitSystemOf(req);
    try {
      auth.requireScope(grant, e.scope);
      const fault = faultError(vehicle, e, opts.retryAfterSec);
      if (fault) throw fault;
      const result = e.handle({
        vehicle,
        state: auth.vehicleState(vehicle.id),
        now,
        units,
        body,
        scopes: [...grant.scopes],
        query: queryOf(req),
        mode: grant.mode,
      });
      if (e.path === '/application' && e.method === 'DELETE') auth.disconnect(grant, vehicle.id);
      const headers: Record<string, string> = {};
      if (e.live && !e.command) {
        headers['sc-data-age'] = dataAge(vehicle, now).toISOString();
        headers['sc-fetched-at'] = new Date(now).toISOString();
      }
      if (e.units) headers['sc-unit-system'] = units;
      return { status: 200, body: result, headers };
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return { status: err.status, body: err.body(requestId), headers: err.headers() };
    }
  }

  function batch(grant: Grant, vehicle: SimVehicle, req: Request, requestId: string, record: RecordDraft): Answer {
    const requests = (req.body as { requests?: unknown } | undefined)?.requests;
    if (!Array.isArray(requests) || requests.length === 0 || requests.length > MAX_BATCH) {
      throw apiErrors.validation(`"requests" must be an array of 1 to ${MAX_BATCH} objects with a "path".`, 'requests');
    }
    const paths = requests.map((r) => (r as { path?: unknown } | null)?.path);
    if (!paths.every((p): p is string => typeof p === 'string')) throw apiErrors.validation('Every request needs a string "path".', 'requests');
    record.batchPaths = paths;
    const responses = paths.map((path) => {
      const normalized = '/' + path.replace(/^\/+/, '').replace(/\/+$/, '');
      const e = findEndpoint('GET', normalized);
      const answer: Answer =
        e && e !== 'method'
          ? run(grant, vehicle, e, req, undefined, requestId)
          : { status: 404, body: apiErrors.pathNotFound().body(requestId), headers: {} };
      const failed = answer.status >= 300;
      if (failed) answer.headers['content-type'] = 'application/json';
      const item: Record<string, unknown> = { path, code: answer.status, body: answer.body };
      if (!failed || opts.batchErrorHeaders) item.headers = answer.headers;
      return item;
    });
    return { status: 200, body: { responses }, headers: {} };
  }

  router.use(express.json({ limit: '64kb' }));

  router.use((req: Request, response: Response) => {
    const record = response.locals.record as RecordDraft;
    record.kind = 'api';
    const requestId = response.locals.requestId as string;
    const parts = req.path.split('/').filter(Boolean);
    const send = (a: Answer) => response.status(a.status).set(a.headers).json(a.body);
    try {
      if (parts[0] !== 'v2.0') throw /^v\d/.test(parts[0] ?? '') ? apiErrors.versionNotFound() : apiErrors.pathNotFound();
      const units = unitSystemOf(req);
      record.unitSystem = units;
      const application = applicationRoute(req, parts);
      if (application) return send(application);
      const grant = auth.authenticate(req.headers.authorization);
      record.userId = grant.user.id;
      if (parts.length === 2 && parts[1] === 'user' && req.method === 'GET') {
        return send({ status: 200, body: { id: grant.user.id }, headers: {} });
      }
      if (parts[1] !== 'vehicles') throw apiErrors.pathNotFound();
      if (parts.length === 2) {
        if (req.method !== 'GET') throw apiErrors.pathNotFound();
        const { limit, offset } = pagingOf(queryOf(req), 10, 50);
        const ids = grant.user.vehicles.map((v) => v.id).filter((id) => grant.vehicleIds.has(id));
        return send({ status: 200, body: { vehicles: ids.slice(offset, offset + limit), paging: { count: ids.length, offset } }, headers: {} });
      }
      const vehicle = auth.vehicle(grant, parts[2]!);
      const path = vehicleEndpoint(req.path)!.endpoint;
      if (path === '/batch') {
        if (req.method !== 'POST') throw apiErrors.pathNotFound();
        return send(batch(grant, vehicle, req, requestId, record));
      }
      const subscribed = subscribeRoute(req, grant, vehicle, path);
      if (subscribed) return send(subscribed);
      const e = findEndpoint(req.method, path);
      if (!e || e === 'method') throw apiErrors.pathNotFound();
      return send(run(grant, vehicle, e, req, req.body, requestId));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return send({ status: err.status, body: err.body(requestId), headers: err.headers() });
    }
  });

  // A body that is not JSON: Smartcar answers 400 VALIDATION.
  router.use((err: unknown, _req: Request, response: Response, next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status !== 400 && status !== 413) return next(err);
    const e = status === 413 ? new ApiError(413, 'VALIDATION', 'PARAMETER', 'The request body is too large.') : apiErrors.malformed();
    response.status(e.status).json(e.body(response.locals.requestId as string));
  });

  return router;
}

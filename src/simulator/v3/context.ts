import type { NextFunction, Request, Response } from 'express';
import type { AuthState } from '../auth.state';
import type { Connection } from '../connections';
import type { ResolvedOptions } from '../options';
import type { RecordDraft } from '../recorder';
import type { AppTokens, V3App } from './app.tokens';
import type { Executions } from './commands';
import { V3Error, v3Errors } from './errors';
import { isTestDataApp } from './test.data';
import type { Unreported } from './vehicle.view';
import type { Webhooks } from './webhooks';

/** What every v3 route works with, built once per simulator. */
export interface V3Context {
  opts: ResolvedOptions;
  auth: AuthState;
  tokens: AppTokens;
  executions: Executions;
  webhooks: Webhooks;
  unreported: Unreported;
}

export const recordOf = (res: Response) => res.locals.record as RecordDraft;

/** Renders a thrown V3Error in the v3 envelope; anything else goes to the simulator's 500. */
export function v3Handler(fn: (req: Request, res: Response) => void) {
  return (req: Request, res: Response, next: NextFunction) => {
    const record = recordOf(res);
    record.kind = 'api';
    try {
      fn(req, res);
    } catch (err) {
      if (!(err instanceof V3Error)) return next(err);
      res.status(err.status).set(err.headers()).json(err.body(res.locals.requestId as string));
    }
  };
}

/** The application behind the Bearer token; recorded as the request's client. */
export function appOf(ctx: V3Context, req: Request, res: Response): V3App {
  const app = ctx.tokens.authenticate(req.headers.authorization);
  recordOf(res).clientId = app.credentials.clientId;
  return app;
}

export function userIdHeader(req: Request): string | undefined {
  const h = req.headers['sc-user-id'];
  return typeof h === 'string' && h.trim() !== '' ? h.trim() : undefined;
}

/**
 * The connection a signal or command request goes through: `sc-user-id` is required, and that user
 * must have connected this car to this application.
 */
export function connectionOf(ctx: V3Context, app: V3App, req: Request, res: Response, vehicleId: string): Connection {
  const fixture = isTestDataApp(app) ? ctx.auth.connections.list({ applicationId: app.applicationId, vehicleId })[0] : undefined;
  if (isTestDataApp(app) && !fixture) throw v3Errors.vehicleNotFound(vehicleId);
  const userId = userIdHeader(req) ?? fixture?.user.id;
  if (!userId) throw v3Errors.missingUserId();
  recordOf(res).userId = userId;
  const c = ctx.auth.connections.find(app.applicationId, userId, vehicleId);
  if (c) return c;
  if (ctx.auth.connections.list({ applicationId: app.applicationId, vehicleId }).length > 0) throw v3Errors.accessDenied();
  throw v3Errors.vehicleNotFound(vehicleId);
}

/** The resource, or `404 RESOURCE_NOT_FOUND`. */
export function found<T>(x: T | undefined): T {
  if (x === undefined) throw v3Errors.notFound();
  return x;
}

/** `page`/`pageSize` (or JSON:API's `page[number]`/`page[size]`): default 1 and 10, size at most 100. */
export function pageOf(q: Record<string, unknown>): { page: number; size: number } {
  const raw = (a: string, b: string) => (typeof q[a] === 'string' ? q[a] : typeof q[b] === 'string' ? q[b] : undefined);
  const page = Number(raw('page', 'page[number]') ?? 1);
  const size = Number(raw('pageSize', 'page[size]') ?? 10);
  if (!Number.isInteger(page) || page < 1) throw v3Errors.validation('"page" must be a positive integer.');
  if (!Number.isInteger(size) || size < 1 || size > 100) throw v3Errors.validation('"pageSize" must be an integer from 1 to 100.');
  return { page, size };
}

/** A page of `items` with `meta` and root-relative `links` (`null` where there is no such page). */
export function paged<T>(items: T[], p: { page: number; size: number }, path: string, style: 'flat' | 'jsonapi') {
  const last = Math.max(1, Math.ceil(items.length / p.size));
  const link = (n: number) => (style === 'flat' ? `${path}?page=${n}&pageSize=${p.size}` : `${path}?page[number]=${n}&page[size]=${p.size}`);
  return {
    data: items.slice((p.page - 1) * p.size, p.page * p.size),
    meta: { page: p.page, pageSize: p.size, totalCount: items.length },
    links: {
      self: link(p.page),
      first: link(1),
      previous: p.page > 1 ? link(Math.min(p.page - 1, last)) : null,
      next: p.page < last ? link(p.page + 1) : null,
      last: link(last),
    },
  };
}

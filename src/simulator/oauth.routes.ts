import express, { type Request, type Response, type Router } from 'express';
import type { AuthState } from './auth.state';
import { consentPage, errorPage } from './consent.page';
import { OAuthError } from './errors';
import { parseScope } from './permissions';
import { applicationIdOf, approvedParams, connectExtrasOf, isApiClientId } from './v3/connect';

/**
 * Connect (`/oauth/authorize`: consent page, then a redirect back to the app) and the token
 * endpoint (`POST /oauth/token`, HTTP Basic client authentication, form body).
 */

const MODES = ['live', 'test', 'simulated'];

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Appends query parameters to a redirect URI, also for custom schemes (`sc<clientId>://exchange`). */
function withParams(uri: string, params: Record<string, string | null>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== null) url.searchParams.set(k, v);
  return url.toString();
}

function isAbsoluteUri(uri: string): boolean {
  try {
    return Boolean(new URL(uri).protocol);
  } catch {
    return false;
  }
}

export function oauthRoutes(auth: AuthState, now: () => number): Router {
  const router = express.Router();

  router.get('/authorize', (req: Request, res: Response) => {
    res.locals.record.kind = 'connect';
    const q = req.query;
    const clientId = applicationIdOf(q);
    const client = clientId ? auth.client(clientId) : undefined;
    res.locals.record.clientId = clientId;
    if (clientId && isApiClientId(clientId)) {
      res.status(400).type('html').send(errorPage('This is an API client id (client_…), which is for the token endpoint only. Connect takes the Application ID.'));
      return;
    }
    if (!client) {
      res.status(400).type('html').send(errorPage('Unknown client_id. Check the application in the Smartcar dashboard.'));
      return;
    }
    const redirectUri = str(q.redirect_uri) ?? null;
    const returnTo = redirectUri ?? client.redirectUris?.[0];
    if (!returnTo || !isAbsoluteUri(returnTo) || (client.redirectUris && !client.redirectUris.includes(returnTo))) {
      res.status(400).type('html').send(errorPage(`The redirect_uri ${JSON.stringify(redirectUri)} is not registered for this application.`));
      return;
    }
    const state = str(q.state) ?? null;
    const fail = (error: string, description: string) =>
      res.redirect(302, withParams(returnTo, { error, error_description: description, state }));
    if (q.response_type !== 'code' && q.response_type !== 'none') return fail('invalid_request', 'response_type must be "code" or "none".');
    const mode = str(q.mode) ?? 'live';
    if (!MODES.includes(mode)) return fail('configuration_error', `Invalid mode: ${mode}.`);
    const rawScope = str(q.scope);
    const parsed = rawScope === undefined || rawScope.trim() === '' ? { scopes: client.defaultScopes } : parseScope(rawScope);
    if ('unknown' in parsed) return fail('configuration_error', `Invalid permission: ${parsed.unknown}.`);
    const request = auth.addRequest({
      client,
      redirectUri,
      returnTo,
      scopes: parsed.scopes,
      state,
      mode,
      singleSelect: q.single_select === 'true',
      singleSelectVin: str(q.single_select_vin) ?? null,
      make: str(q.make) ?? null,
      connect: connectExtrasOf(q),
    });
    res.status(200).type('html').send(consentPage(request));
  });

  router.post('/authorize', express.urlencoded({ extended: false, limit: '16kb' }), (req: Request, res: Response) => {
    res.locals.record.kind = 'connect';
    const body = (req.body ?? {}) as Record<string, unknown>;
    const request = auth.request(str(body.request_id) ?? '');
    if (!request) {
      res.status(400).type('html').send(errorPage('This sign-in page has expired or was already used. Start again from the app.'));
      return;
    }
    res.locals.record.clientId = request.client.clientId;
    const approve = body.action === 'approve';
    const username = str(body.username)?.trim() ?? '';
    if (approve && !username) {
      res.status(400).type('html').send(consentPage(request, 'Enter an email address.'));
      return;
    }
    const decision = auth.decide(request, approve, username);
    const params: Record<string, string | null> = decision.approved
      ? approvedParams(auth, request, decision.grant, decision.code, now())
      : { error: decision.error, error_description: decision.description, state: request.state };
    res.redirect(302, withParams(request.returnTo, params));
  });

  router.post('/token', express.urlencoded({ extended: false, limit: '16kb' }), (req: Request, res: Response) => {
    res.locals.record.kind = 'token';
    res.set({ 'cache-control': 'no-store', pragma: 'no-cache' });
    const body = (req.is('application/x-www-form-urlencoded') ? req.body : {}) as Record<string, unknown>;
    const grantType = str(body.grant_type);
    res.locals.record.grantType = grantType;
    try {
      const client = auth.authenticateClient(req.headers.authorization);
      res.locals.record.clientId = client.clientId;
      switch (grantType) {
        case 'authorization_code':
          res.json(auth.exchangeCode(client, str(body.code), str(body.redirect_uri)));
          return;
        case 'refresh_token':
          res.json(auth.refresh(client, str(body.refresh_token)));
          return;
        case undefined:
          throw new OAuthError(400, 'invalid_request', 'Missing required parameter: grant_type.');
        default:
          throw new OAuthError(400, 'unsupported_grant_type', `Unsupported grant_type: ${grantType}.`);
      }
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      if (e.status === 401) res.set('www-authenticate', 'Basic realm="smartcar"');
      res.status(e.status).json(e.body());
    }
  });

  return router;
}

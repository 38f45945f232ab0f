import { randomBytes, timingSafeEqual } from 'node:crypto';
import { OAuthError } from '../errors';
import type { ResolvedOptions, SimClient } from '../options';
import { v3CredentialsOf, type V3Credentials } from './credentials';
import { v3Errors } from './errors';
import { TEST_DATA_APP, TEST_DATA_TOKEN } from './test.data';

/**
 * API v3's application tokens: `POST /oauth2/token` with the client-credentials grant (the client
 * id and secret as a form body, a JSON body or HTTP Basic), one token per application for every
 * user, 1 h, no refresh token. In memory, like the v2 tokens.
 */

export interface V3App {
  /** The Application ID (= the v2 client id). */
  applicationId: string;
  client: SimClient;
  credentials: V3Credentials;
}

export interface AppTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The client id and secret from Basic, else from the body. */
export function clientCredentialsOf(authorization: string | undefined, body: Record<string, unknown>): { id?: string; secret?: string } {
  const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? {} : { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  }
  return { id: str(body.client_id), secret: str(body.client_secret) };
}

export class AppTokens {
  private readonly tokens = new Map<string, { app: V3App; expiresAt: number }>();

  /** The registered applications are fixed at start. */
  private readonly registered: V3App[];

  constructor(private readonly opts: ResolvedOptions) {
    this.registered = opts.clients.map((client) => ({ applicationId: client.clientId, client, credentials: v3CredentialsOf(client) }));
  }

  apps(): V3App[] {
    return this.registered;
  }

  app(applicationId: string): V3App | undefined {
    return this.apps().find((a) => a.applicationId === applicationId);
  }

  /** The token endpoint's answer (throws OAuthError: 400 `invalid_request`/`unsupported_grant_type`, 401 `invalid_client`). */
  issue(authorization: string | undefined, body: Record<string, unknown>): { app: V3App; token: AppTokenResponse } {
    const grantType = str(body.grant_type);
    if (grantType === undefined) throw new OAuthError(400, 'invalid_request', 'Missing required parameter: grant_type.');
    if (grantType !== 'client_credentials') throw new OAuthError(400, 'unsupported_grant_type', `Unsupported grant_type: ${grantType}.`);
    const { id, secret } = clientCredentialsOf(authorization, body);
    if (!id || secret === undefined) throw new OAuthError(401, 'invalid_client', 'Client authentication failed.');
    const app = this.apps().find((a) => a.credentials.clientId === id);
    if (!app || !sameSecret(app.credentials.clientSecret, secret)) throw new OAuthError(401, 'invalid_client', 'Client authentication failed.');
    this.prune();
    const token = randomBytes(32).toString('base64url');
    this.tokens.set(token, { app, expiresAt: this.opts.now() + this.opts.appTokenTtlSec * 1000 });
    return { app, token: { access_token: token, token_type: 'Bearer', expires_in: this.opts.appTokenTtlSec } };
  }

  /** Bearer authentication of every v3 API (throws `401 AUTHENTICATION/UNAUTHORIZED`). */
  authenticate(authorization: string | undefined): V3App {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (match?.[1] === TEST_DATA_TOKEN) return TEST_DATA_APP;
    const entry = match ? this.tokens.get(match[1]!) : undefined;
    if (!entry || entry.expiresAt <= this.opts.now()) throw v3Errors.unauthorized();
    return entry.app;
  }

  /** Test control: every application token expires now. */
  expireAll(): number {
    const now = this.opts.now();
    for (const t of this.tokens.values()) t.expiresAt = now;
    return this.tokens.size;
  }

  private prune(): void {
    const now = this.opts.now();
    for (const [k, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(k);
  }
}

import { UpstreamError } from '../errors';
import type { ConnectionRef } from '../session/session.store';
import type { Credential } from '../smartcar/smartcar.port';
import type { AppTokenProvider } from './app-token';
import type { TokenProvider } from './token.provider';

/** A credential on loan, with the version of what it came from (to renew exactly that one). */
export interface LentCredential {
  readonly credential: Credential;
  readonly version: number;
}

/**
 * The credential a connection's Smartcar calls present, whatever the API version behind it. v2: the
 * connection's access token from the token provider (refreshed before use when it expires soon, and
 * renewed once after Smartcar's 401). v3: the application token (one for every connection) with the
 * connection's Smartcar user id, the token renewed once after a 401.
 */
export interface Credentials {
  lend(sessionHash: string, ref: ConnectionRef): Promise<LentCredential>;
  /** Smartcar rejected `rejected` (401): a newer one, renewing unless someone already did. */
  renew(sessionHash: string, ref: ConnectionRef, rejected: LentCredential): Promise<LentCredential>;
  /** Runs `call` with a credential; after a 401, renews once and retries once. */
  run<T>(sessionHash: string, ref: ConnectionRef, call: (credential: Credential) => Promise<T>): Promise<T>;
}

const v2 = (accessToken: string): Credential => ({ api: 2, accessToken });

/** Only a v3 connection described (its user known) can present a v3 credential. */
function userOf(ref: ConnectionRef): string {
  if (ref.userId === null) throw new Error(`v3 connection ${ref.id} has no Smartcar user id`);
  return ref.userId;
}

export class TokenCredentials implements Credentials {
  constructor(
    private readonly tokens: TokenProvider,
    /** null in v2 mode: a v3 connection (made in v3 mode) then cannot be served. */
    private readonly appTokens: AppTokenProvider | null = null,
  ) {}

  private app(): AppTokenProvider {
    if (!this.appTokens) throw new Error('a v3 connection, but the gateway runs without API v3 (SMARTCAR_API_VERSION=2)');
    return this.appTokens;
  }

  async lend(sessionHash: string, ref: ConnectionRef): Promise<LentCredential> {
    if (ref.api === 3) {
      const t = await this.app().get();
      return { credential: { api: 3, appToken: t.accessToken, userId: userOf(ref) }, version: t.version };
    }
    const t = await this.tokens.lend(sessionHash, ref.id);
    return { credential: v2(t.accessToken), version: t.version };
  }

  async renew(sessionHash: string, ref: ConnectionRef, rejected: LentCredential): Promise<LentCredential> {
    const c = rejected.credential;
    if (c.api === 3) {
      const t = await this.app().renew({ accessToken: c.appToken });
      return { credential: { api: 3, appToken: t.accessToken, userId: c.userId }, version: t.version };
    }
    const t = await this.tokens.renew(sessionHash, ref.id, { accessToken: c.accessToken, version: rejected.version });
    return { credential: v2(t.accessToken), version: t.version };
  }

  /** v3: `call` as the Smartcar user `userId`, outside any session (background jobs). */
  runAsUser<T>(userId: string, call: (credential: Credential) => Promise<T>): Promise<T> {
    return this.run('', { id: '', userId, vehicleIds: null, scopes: null, createdAt: 0, api: 3 }, call);
  }

  async run<T>(sessionHash: string, ref: ConnectionRef, call: (credential: Credential) => Promise<T>): Promise<T> {
    if (ref.api !== 3) return this.tokens.withAccessToken(sessionHash, ref.id, (accessToken) => call(v2(accessToken)));
    const lent = await this.lend(sessionHash, ref);
    try {
      return await call(lent.credential);
    } catch (err) {
      // A 401 is refused before anything reached the car: safe to send once more with a new token.
      if (!(err instanceof UpstreamError && err.isAuthentication)) throw err;
      return call((await this.renew(sessionHash, ref, lent)).credential);
    }
  }
}

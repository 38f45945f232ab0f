import type { ConnectionRef } from '../session/session.store';
import type { Credential } from '../smartcar/smartcar.port';
import type { TokenProvider } from './token.provider';

/** A credential on loan, with the version of what it came from (to renew exactly that one). */
export interface LentCredential {
  readonly credential: Credential;
  readonly version: number;
}

/**
 * The credential a connection's Smartcar calls present, whatever the API version behind it. v2: the
 * connection's access token from the token provider (refreshed before use when it expires soon, and
 * renewed once after Smartcar's 401).
 */
export interface Credentials {
  lend(sessionHash: string, ref: ConnectionRef): Promise<LentCredential>;
  /** Smartcar rejected `rejected` (401): a newer one, renewing unless someone already did. */
  renew(sessionHash: string, ref: ConnectionRef, rejected: LentCredential): Promise<LentCredential>;
  /** Runs `call` with a credential; after a 401, renews once and retries once. */
  run<T>(sessionHash: string, ref: ConnectionRef, call: (credential: Credential) => Promise<T>): Promise<T>;
}

const v2 = (accessToken: string): Credential => ({ api: 2, accessToken });

export class TokenCredentials implements Credentials {
  constructor(private readonly tokens: TokenProvider) {}

  async lend(sessionHash: string, ref: ConnectionRef): Promise<LentCredential> {
    const t = await this.tokens.lend(sessionHash, ref.id);
    return { credential: v2(t.accessToken), version: t.version };
  }

  async renew(sessionHash: string, ref: ConnectionRef, rejected: LentCredential): Promise<LentCredential> {
    const t = await this.tokens.renew(sessionHash, ref.id, { accessToken: rejected.credential.accessToken, version: rejected.version });
    return { credential: v2(t.accessToken), version: t.version };
  }

  run<T>(sessionHash: string, ref: ConnectionRef, call: (credential: Credential) => Promise<T>): Promise<T> {
    return this.tokens.withAccessToken(sessionHash, ref.id, (accessToken) => call(v2(accessToken)));
  }
}

import { randomUUID, timingSafeEqual } from 'node:crypto';
import { ConnectionStore } from './connections';
import { apiErrors, ApiError, OAuthError } from './errors';
import type { ResolvedOptions, SimClient } from './options';
import { initialVehicleState, type MutableVehicleState } from './readings';
import { userFor, type SimUser, type SimVehicle } from './world';

/**
 * Everything Smartcar's auth service remembers: pending Connect requests, authorization codes,
 * grants (a user's approval of some vehicles and scopes for one application) and the tokens issued
 * for each grant. In memory: a restart forgets every token, as a real token service losing its
 * database would.
 */

export interface AuthRequest {
  id: string;
  client: SimClient;
  /** `null` when the Connect URL carried none (then the token request must not carry one either). */
  redirectUri: string | null;
  /** Where to send the user back: the given URI, or the client's first registered one. */
  returnTo: string;
  scopes: string[];
  state: string | null;
  mode: string;
  singleSelectVin: string | null;
  singleSelect: boolean;
  make: string | null;
  /** Connect's `response_type`, `external_id` (`null`: the literal "null", which clears it), and whether the URL is in v3 form. */
  connect?: { responseType: string; externalId: string | null | undefined; v3: boolean };
  createdAt: number;
}

export interface Grant {
  id: string;
  clientId: string;
  user: SimUser;
  vehicleIds: Set<string>;
  scopes: Set<string>;
  mode: string;
}

interface AuthCode {
  grant: Grant;
  clientId: string;
  redirectUri: string | null;
  expiresAt: number;
  used: boolean;
}

interface AccessToken {
  grant: Grant;
  expiresAt: number;
}

interface RefreshToken {
  grant: Grant;
  expiresAt: number;
  /** Set at first use; the token then keeps working for the grace window. */
  usedAt: number | null;
  revoked: boolean;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
}

export type Decision =
  | { approved: true; code: string; grant: Grant }
  | { approved: false; error: string; description: string };

/** Pending Connect requests are dropped after this long (the consent page would have timed out). */
const AUTH_REQUEST_TTL_MS = 3_600_000;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class AuthState {
  private readonly requests = new Map<string, AuthRequest>();
  private readonly codes = new Map<string, AuthCode>();
  private readonly accessTokens = new Map<string, AccessToken>();
  private readonly refreshTokens = new Map<string, RefreshToken>();
  private readonly grants = new Set<Grant>();
  private readonly vehicleStates = new Map<string, MutableVehicleState>();
  readonly connections = new ConnectionStore();

  constructor(private readonly opts: ResolvedOptions) {}

  client(clientId: string): SimClient | undefined {
    return this.opts.clients.find((c) => c.clientId === clientId);
  }

  /** HTTP Basic client authentication of the token endpoint. */
  authenticateClient(authorization: string | undefined): SimClient {
    const match = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
    if (!match) throw new OAuthError(401, 'invalid_client', 'Invalid or missing client credentials.');
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const client = colon < 0 ? undefined : this.client(decoded.slice(0, colon));
    if (!client || !sameSecret(client.clientSecret, decoded.slice(colon + 1))) {
      throw new OAuthError(401, 'invalid_client', 'Invalid or missing client credentials.');
    }
    return client;
  }

  addRequest(r: Omit<AuthRequest, 'id' | 'createdAt'>): AuthRequest {
    this.prune();
    const request = { ...r, id: randomUUID(), createdAt: this.opts.now() };
    this.requests.set(request.id, request);
    return request;
  }

  request(id: string): AuthRequest | undefined {
    const r = this.requests.get(id);
    return r && this.opts.now() - r.createdAt < AUTH_REQUEST_TTL_MS ? r : undefined;
  }

  /** The user approved or denied on the consent page. A pending request is answered once. */
  decide(request: AuthRequest, approve: boolean, username: string): Decision {
    this.requests.delete(request.id);
    if (!approve) return { approved: false, error: 'access_denied', description: 'User denied access to application.' };
    const user = userFor(username);
    let vehicles = user.vehicles;
    if (request.make) vehicles = vehicles.filter((v) => v.make === request.make!.toUpperCase());
    if (request.singleSelectVin) vehicles = vehicles.filter((v) => v.vin === request.singleSelectVin!.toUpperCase());
    else if (request.singleSelect) vehicles = vehicles.slice(0, 1);
    if (vehicles.length === 0) {
      return { approved: false, error: 'no_vehicles', description: 'No vehicles were found for this account that match the request.' };
    }
    const grant: Grant = {
      id: randomUUID(),
      clientId: request.client.clientId,
      user,
      vehicleIds: new Set(vehicles.map((v) => v.id)),
      scopes: new Set(request.scopes),
      mode: request.mode,
    };
    this.grants.add(grant);
    const code = randomUUID();
    this.codes.set(code, {
      grant,
      clientId: request.client.clientId,
      redirectUri: request.redirectUri,
      expiresAt: this.opts.now() + this.opts.codeTtlSec * 1000,
      used: false,
    });
    return { approved: true, code, grant };
  }

  /** `authorization_code` grant. The SDK sends the literal "undefined" when it has no redirect URI. */
  exchangeCode(client: SimClient, code: string | undefined, redirectUri: string | undefined): TokenResponse {
    if (!code) throw new OAuthError(400, 'invalid_request', 'Missing required parameter: code.');
    const entry = this.codes.get(code);
    if (!entry || entry.used || entry.expiresAt <= this.opts.now() || entry.clientId !== client.clientId) {
      throw new OAuthError(400, 'invalid_grant', 'Invalid or expired authorization code.');
    }
    const given = redirectUri === undefined || redirectUri === 'undefined' || redirectUri === '' ? null : redirectUri;
    if (given !== entry.redirectUri) {
      throw new OAuthError(400, 'invalid_grant', `Unauthorized redirect_uri: ${given ?? '(none)'}`);
    }
    // Single use. RFC 6749 suggests also revoking tokens already issued for a reused code; Smartcar's
    // behaviour there is undocumented, so the first exchange's tokens stay valid.
    entry.used = true;
    return this.issue(entry.grant);
  }

  /** `refresh_token` grant: always rotates; the old refresh token survives for the grace window. */
  refresh(client: SimClient, refreshToken: string | undefined): TokenResponse {
    if (!refreshToken) throw new OAuthError(400, 'invalid_request', 'Missing required parameter: refresh_token.');
    const entry = this.refreshTokens.get(refreshToken);
    const now = this.opts.now();
    const graceOver = entry?.usedAt != null && now - entry.usedAt >= this.opts.refreshGraceSec * 1000;
    if (!entry || entry.revoked || entry.expiresAt <= now || graceOver || entry.grant.clientId !== client.clientId) {
      throw new OAuthError(400, 'invalid_grant', 'Invalid or expired refresh token.');
    }
    entry.usedAt ??= now;
    return this.issue(entry.grant);
  }

  private issue(grant: Grant): TokenResponse {
    this.prune();
    const now = this.opts.now();
    const access = randomUUID();
    const refresh = randomUUID();
    this.accessTokens.set(access, { grant, expiresAt: now + this.opts.accessTokenTtlSec * 1000 });
    this.refreshTokens.set(refresh, { grant, expiresAt: now + this.opts.refreshTokenTtlSec * 1000, usedAt: null, revoked: false });
    return { access_token: access, token_type: 'Bearer', expires_in: this.opts.accessTokenTtlSec, refresh_token: refresh };
  }

  /** Bearer authentication of the Vehicles API. */
  authenticate(authorization: string | undefined): Grant {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const entry = match ? this.accessTokens.get(match[1]!) : undefined;
    if (!entry || entry.expiresAt <= this.opts.now()) throw apiErrors.authentication();
    return entry.grant;
  }

  vehicle(grant: Grant, vehicleId: string): SimVehicle {
    const v = grant.vehicleIds.has(vehicleId) ? grant.user.vehicles.find((x) => x.id === vehicleId) : undefined;
    if (!v) throw apiErrors.permission('Your application does not have access to this vehicle. Please ask the user to connect it again.');
    return v;
  }

  requireScope(grant: Grant, scope: string | null): void {
    if (scope && !grant.scopes.has(scope)) {
      throw new ApiError(
        403,
        'PERMISSION',
        null,
        `Your application is missing the permission required to access this resource: ${scope}.`,
        'REAUTHENTICATE',
        'Please grant this application the permission it needs.',
      );
    }
  }

  vehicleState(vehicleId: string): MutableVehicleState {
    let s = this.vehicleStates.get(vehicleId);
    if (!s) this.vehicleStates.set(vehicleId, (s = initialVehicleState()));
    return s;
  }

  /** `DELETE /application`: the application loses this vehicle in every grant of this user. */
  disconnect(grant: Grant, vehicleId: string): void {
    for (const g of this.grants) {
      if (g.clientId === grant.clientId && g.user.id === grant.user.id) g.vehicleIds.delete(vehicleId);
    }
    this.connections.removeWhere({ applicationId: grant.clientId, userId: grant.user.id, vehicleId });
  }

  /** A deleted connection (or user): their v2 tokens no longer reach the car(s) either. */
  revokeAccess(clientId: string, userId: string, vehicleId: string | null): void {
    for (const g of this.grants) {
      if (g.clientId !== clientId || g.user.id !== userId) continue;
      if (vehicleId === null) g.vehicleIds.clear();
      else g.vehicleIds.delete(vehicleId);
    }
  }

  /**
   * Test control, in-process only (never over HTTP): the tokens issued to this user, so a test can
   * prove that a client never leaks them.
   */
  issuedTokens(username: string): string[] {
    const id = userFor(username).id;
    const mine = <T extends { grant: Grant }>(map: Map<string, T>) => [...map].filter(([, t]) => t.grant.user.id === id).map(([token]) => token);
    return [...mine(this.accessTokens), ...mine(this.refreshTokens)];
  }

  /** Test control: every access token of this user expires now (refresh tokens stay good). */
  expireAccessTokens(username: string): number {
    return this.forUser(username, this.accessTokens, (t) => (t.expiresAt = this.opts.now()));
  }

  /** Test control: every refresh token of this user is revoked (as when the user revokes access). */
  revokeRefreshTokens(username: string): number {
    return this.forUser(username, this.refreshTokens, (t) => (t.revoked = true));
  }

  private forUser<T extends { grant: Grant }>(username: string, map: Map<string, T>, change: (t: T) => void): number {
    const id = userFor(username).id;
    let n = 0;
    for (const t of map.values()) {
      if (t.grant.user.id === id) {
        change(t);
        n++;
      }
    }
    return n;
  }

  /** Drops what can no longer be used, so a long-running simulator does not grow without bound. */
  private prune(): void {
    const now = this.opts.now();
    for (const [k, r] of this.requests) if (now - r.createdAt >= AUTH_REQUEST_TTL_MS) this.requests.delete(k);
    for (const [k, c] of this.codes) if (c.expiresAt <= now) this.codes.delete(k);
    for (const [k, t] of this.accessTokens) if (t.expiresAt <= now) this.accessTokens.delete(k);
    const grace = this.opts.refreshGraceSec * 1000;
    for (const [k, t] of this.refreshTokens) {
      if (t.expiresAt <= now || (t.usedAt !== null && now - t.usedAt >= grace)) this.refreshTokens.delete(k);
    }
  }
}

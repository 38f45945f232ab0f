import { randomBytes } from 'node:crypto';
import { AppError, badInput, fromUpstream, UpstreamError } from '../errors';
import type { RequestSession } from '../session/request-session';
import type { ConnectionRef, Session, SessionStore } from '../session/session.store';
import type { SmartcarPort } from '../smartcar/smartcar.port';
import type { Credentials } from '../tokens/credentials';
import type { TokenVault } from '../tokens/token.vault';

/**
 * Connecting a car: the Connect URL (with a state bound to the session) and the code exchange, which
 * stores the token pair before anything else can fail, then lists the user's vehicles.
 */

export interface ConnectUrlArgs {
  scope?: string[] | null;
  forcePrompt?: boolean | null;
  make?: string | null;
  singleSelectVin?: string | null;
}

/** Keeps Smartcar's webhook subscriptions in step with the vehicles connected in v3 mode. */
export interface VehicleSubscriptions {
  subscribe(userId: string, vehicleIds: readonly string[]): Promise<void>;
  unsubscribe(userId: string, vehicleIds: readonly string[]): Promise<void>;
}

export interface ConnectOptions {
  scope: string[];
  /** A code exchange without a `state` is refused (see stateRequired). */
  stateRequired: boolean;
  /** The API new connections are made with: v3 Connect URLs carry an external id, and redirects a `user_id`. */
  apiVersion: 2 | 3;
}

/** What Connect's redirect carried (GET /exchange's query, completeConnect's URL). */
export interface ConnectRedirect {
  code: string | null;
  userId: string | null;
  state: string | null;
  error: string | null;
}

/** A session's v3 connection lives as long as a v2 refresh token would (Smartcar's 60 days). */
const V3_CONNECTION_TTL_MS = 60 * 86_400_000;

/** SMARTCAR_REQUIRE_STATE: `true`, `false` or `auto`. */
export type RequireStateSetting = boolean | 'auto';

/**
 * `auto` requires a state when Connect redirects to an http(s) URI: a browser lands on the gateway,
 * where a state-less code is how a login-CSRF link works, and connectUrl always issues one. A
 * custom-scheme URI (`sc<clientId>://exchange`) lands in an app, whose SDK builds Connect URLs
 * without our state and forwards a bare code: requiring one there breaks the Smartcar tutorial apps.
 * A v3 connection (Connect answers `user_id`, itself a credential) needs a state whatever this says;
 * that completion is a path of its own and must not consult this.
 */
export function stateRequired(setting: RequireStateSetting, redirectUri: string): boolean {
  return setting === 'auto' ? /^https?:\/\//i.test(redirectUri) : setting;
}

const PERMISSION = /^(required:)?[a-z_]{3,40}$/;
const MAKE = /^[A-Za-z0-9_-]{1,40}$/;
const VIN = /^[A-HJ-NPR-Z0-9]{17}$/i;
/** Smartcar codes are UUIDs; allow any URL-safe token of sane length. */
const CODE = /^[A-Za-z0-9._~-]{1,512}$/;
/** Smartcar user ids are UUIDs. */
const USER_ID = /^[A-Za-z0-9-]{1,128}$/;
const MAX_REDIRECT_URL = 4096;

/** The parameters of a redirect URL (any scheme: `https://…/exchange`, `sc<id>://exchange`). */
export function parseRedirect(redirectUrl: string): ConnectRedirect {
  if (redirectUrl.length > MAX_REDIRECT_URL) throw badInput('redirectUrl: too long');
  let url: URL;
  try {
    url = new URL(redirectUrl);
  } catch {
    throw badInput('redirectUrl: not a URL. Pass the whole URL Smartcar Connect redirected to.');
  }
  const q = url.searchParams;
  return { code: q.get('code'), userId: q.get('user_id'), state: q.get('state'), error: q.get('error') };
}

export class ConnectService {
  constructor(
    private readonly sessions: SessionStore,
    private readonly vault: TokenVault,
    private readonly credentials: Credentials,
    private readonly smartcar: SmartcarPort,
    private readonly options: ConnectOptions,
    /** v3 with SMARTCAR_WEBHOOK_ID: new vehicles are subscribed to it; else null. */
    private readonly subscriptions: VehicleSubscriptions | null = null,
  ) {}

  /** A Connect URL for the caller's session (created when missing), with a fresh single-use state. */
  async connectUrl(rs: RequestSession, args: ConnectUrlArgs): Promise<string> {
    const scope = args.scope ?? this.options.scope;
    const problems: string[] = [];
    if (scope.length === 0) problems.push('scope must not be empty');
    const badScope = scope.filter((s) => !PERMISSION.test(s));
    if (badScope.length) problems.push(`scope: not permission names: ${badScope.slice(0, 5).map((s) => JSON.stringify(s.slice(0, 50))).join(', ')}`);
    if (args.make != null && !MAKE.test(args.make)) problems.push('make: 1-40 letters, digits, "-" or "_"');
    if (args.singleSelectVin != null && !VIN.test(args.singleSelectVin)) problems.push('singleSelectVin: a 17-character VIN');
    if (problems.length) throw badInput(problems.join('; '));

    const session = await rs.ensure();
    const { state, externalId } = await this.issue(session.hash);
    return this.smartcar.authUrl({
      scope,
      state,
      ...(externalId !== undefined && { externalId }),
      ...(args.forcePrompt != null && { forcePrompt: args.forcePrompt }),
      ...(args.make != null && { make: args.make }),
      ...(args.singleSelectVin != null && { singleSelectVin: args.singleSelectVin }),
    });
  }

  /** A Connect URL with the default scope for a session that must connect again (RECONNECT_REQUIRED). */
  async reconnectUrl(sessionHash: string): Promise<string> {
    const { state, externalId } = await this.issue(sessionHash);
    return this.smartcar.authUrl({ scope: this.options.scope, state, ...(externalId !== undefined && { externalId }) });
  }

  /**
   * A state and, in v3 mode, a fresh external id stored with it: an opaque random value per state
   * (never derived from the session token), which Smartcar records on the connection the driver
   * makes through that URL. It proves later that a `user_id` came back from our own Connect URL.
   */
  private async issue(sessionHash: string): Promise<{ state: string; externalId?: string }> {
    const externalId = this.options.apiVersion === 3 ? randomBytes(16).toString('base64url') : undefined;
    return { state: await this.sessions.issueState(sessionHash, externalId), ...(externalId !== undefined && { externalId }) };
  }

  /**
   * Completes Connect from the parameters of its redirect: v3's `user_id` (in v3 mode; a code beside
   * it is not exchanged), else a code as exchangeCode does. Returns the new connection's vehicle ids.
   */
  async complete(rs: RequestSession, redirect: ConnectRedirect): Promise<string[]> {
    if (redirect.error !== null) {
      // Connect sends the driver back with ?error=access_denied (or another reason) instead.
      throw badInput(`Smartcar Connect did not authorise: ${redirect.error.slice(0, 64)}`, { connectError: redirect.error.slice(0, 64) });
    }
    if (redirect.userId !== null && this.options.apiVersion === 3) return this.completeUser(rs, redirect.userId, redirect.state);
    if (redirect.code !== null) return this.exchange(rs, redirect.code, redirect.state);
    throw badInput(this.options.apiVersion === 3 ? 'user_id: required (or a code)' : 'code: required');
  }

  /**
   * v3: binds the Smartcar user of a Connect redirect to the caller's session. A user_id alone is a
   * credential anyone could replay, so it is accepted only with a state this session was issued
   * (unused, under 10 minutes old) and after Smartcar's Connections API shows that the user's
   * connection carries the external id put in that state's Connect URL. Anything else stores nothing.
   */
  async completeUser(rs: RequestSession, userId: string, state: string | null): Promise<string[]> {
    if (!USER_ID.test(userId)) throw badInput('user_id: not a Smartcar user id');
    if (state === null) throw badInput('state: required with a user_id. Use the state of the connectUrl this session asked for.');
    if (state.length > 256) throw badInput('state: too long');
    let session = await rs.ensure();
    const taken = await this.sessions.takeState(session.hash, state);
    if (!taken) throw badInput('state: unknown, expired, already used, or issued to another session. Ask for a new connectUrl.');
    if (taken.externalId === null) throw badInput('state: issued for a Connect URL without an external id (before API v3). Ask for a new connectUrl.');

    const ref: ConnectionRef = { id: randomBytes(12).toString('base64url'), userId, vehicleIds: null, scopes: null, createdAt: Date.now(), api: 3 };
    const info = await this.credentials.run(session.hash, ref, (credential) => this.smartcar.describeConnection(credential, taken.externalId!)).catch((e: unknown) => {
      throw e instanceof UpstreamError ? fromUpstream(e, 'api') : e;
    });
    if (info.vehicleIds.length === 0) {
      throw badInput("user_id: this user's connection was not made through this session's Connect URL. Ask for a new connectUrl.");
    }
    const described: ConnectionRef = { ...ref, vehicleIds: info.vehicleIds, scopes: [...info.permissions] };
    const attached = await this.sessions.attach(session, described, null, Date.now() + V3_CONNECTION_TTL_MS);
    if (!attached) throw new AppError('UNAUTHENTICATED', 'The session ended meanwhile. Start again.');
    session = attached;
    // Records it again, dropping older connections of the same Smartcar user (the newer one supersedes).
    const updated = await this.sessions.describe(session, described);
    if (!updated) throw new AppError('UNAUTHENTICATED', 'The session ended meanwhile.');
    await rs.update(updated);
    // The connection is made: a subscription that cannot be stored now is not a reason to fail it.
    await this.subscriptions?.subscribe(userId, info.vehicleIds).catch(() => undefined);
    return info.vehicleIds;
  }

  /**
   * Exchanges an authorization code and connects its vehicles to the caller's session. Returns the
   * vehicle ids of the new connection.
   */
  async exchange(rs: RequestSession, code: string, state: string | null | undefined): Promise<string[]> {
    if (!CODE.test(code)) throw badInput('code: not an authorization code');
    if (state != null && state.length > 256) throw badInput('state: too long');
    let session = await rs.ensure();
    if (state != null) {
      if (!(await this.sessions.consumeState(session.hash, state))) {
        throw badInput('state: unknown, expired, already used, or issued to another session. Ask for a new connectUrl.');
      }
    } else if (this.options.stateRequired) {
      throw badInput('state: required. Use the state of the connectUrl this session asked for.');
    }

    const pair = await this.smartcar.exchangeCode(code).catch((e: unknown) => {
      throw e instanceof UpstreamError ? fromUpstream(e, 'exchange') : e;
    });

    // Store the pair first: once Smartcar has answered, the code is spent, and a pair lost here
    // would mean sending the driver through Connect again.
    const ref: ConnectionRef = { id: randomBytes(12).toString('base64url'), userId: null, vehicleIds: null, scopes: null, createdAt: Date.now() };
    const attached = await this.sessions.attach(session, ref, this.vault.seal(session.hash, ref.id, pair), pair.refreshExpiresAt);
    if (!attached) throw new AppError('UNAUTHENTICATED', 'The session ended during the exchange. Start again.');
    session = attached;
    await rs.update(session);

    const described = await this.describe(rs, session, ref);
    return described.vehicleIds ?? [];
  }

  /**
   * Lists a connection's Smartcar user and vehicles and records them. Also used later for a
   * connection whose listing failed at exchange time.
   */
  async describe(rs: RequestSession, session: Session, ref: ConnectionRef): Promise<ConnectionRef> {
    const { userId, vehicleIds, permissions } = await this.credentials.run(session.hash, ref, (credential) => this.smartcar.describeConnection(credential));
    const described: ConnectionRef = { ...ref, userId, vehicleIds, scopes: [...permissions] };
    const updated = await this.sessions.describe(session, described);
    if (!updated) throw new AppError('UNAUTHENTICATED', 'The session ended meanwhile.');
    await rs.update(updated);
    return described;
  }
}

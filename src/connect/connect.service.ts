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

export interface ConnectOptions {
  scope: string[];
  /** A code exchange without a `state` is refused (see stateRequired). */
  stateRequired: boolean;
}

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

export class ConnectService {
  constructor(
    private readonly sessions: SessionStore,
    private readonly vault: TokenVault,
    private readonly credentials: Credentials,
    private readonly smartcar: SmartcarPort,
    private readonly options: ConnectOptions,
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
    const state = await this.sessions.issueState(session.hash);
    return this.smartcar.authUrl({
      scope,
      state,
      ...(args.forcePrompt != null && { forcePrompt: args.forcePrompt }),
      ...(args.make != null && { make: args.make }),
      ...(args.singleSelectVin != null && { singleSelectVin: args.singleSelectVin }),
    });
  }

  /** A Connect URL with the default scope for a session that must connect again (RECONNECT_REQUIRED). */
  async reconnectUrl(sessionHash: string): Promise<string> {
    const state = await this.sessions.issueState(sessionHash);
    return this.smartcar.authUrl({ scope: this.options.scope, state });
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

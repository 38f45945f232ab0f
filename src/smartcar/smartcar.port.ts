import type { UpstreamError } from '../errors';
import type { CommandName, Reading, SignalName } from '../vehicles/signal.registry';
import type { UnitSystem } from '../vehicles/signal.units';

/**
 * What the gateway asks of Smartcar, in the domain's own terms: signals by name, commands by name,
 * connections. Each API version's wire format (paths, bodies, headers) lives in its adapter only;
 * every failure arrives as an UpstreamError.
 */

export type { UnitSystem };

/** A v2 token pair, as the vault keeps it. */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Epoch ms; the SDK estimates 60 days from receipt. */
  refreshExpiresAt: number;
}

/**
 * What one connection's calls present to Smartcar. Callers get it from the credential source and
 * hand it on; only an adapter looks inside (v2: the connection's access token; v3: the application
 * token and the driver's Smartcar user id, sent as `sc-user-id`).
 */
export type Credential = { readonly api: 2; readonly accessToken: string } | { readonly api: 3; readonly appToken: string; readonly userId: string };

/** The Smartcar API version of a credential or connection. */
export type ApiVersion = Credential['api'];

export interface AuthUrlInput {
  scope: string[];
  state?: string;
  forcePrompt?: boolean;
  make?: string;
  singleSelectVin?: string;
  /** v3: our opaque id of this Connect attempt, which Smartcar records on the user's connection. */
  externalId?: string;
}

/** Who and what one connection reaches. */
export interface ConnectionInfo {
  userId: string;
  vehicleIds: string[];
  /** What the driver granted (names without `required:`). */
  permissions: string[];
}

export interface CommandResult {
  status: string;
  message: string | null;
}

/** Each signal asked: its reading, or what Smartcar answered instead. */
export type SignalAnswers = Map<SignalName, Reading | UpstreamError>;

export interface SmartcarPort {
  /** The Connect URL. */
  authUrl(input: AuthUrlInput): string;
  /** Trades a Connect authorization code for a token pair. */
  exchangeCode(code: string): Promise<TokenPair>;
  refreshTokens(refreshToken: string): Promise<TokenPair>;
  /**
   * The connection's user, every vehicle it reaches (all pages) and its permissions. v3 with
   * `externalId`: only the user's connections that carry it (none: no vehicle).
   */
  describeConnection(credential: Credential, externalId?: string): Promise<ConnectionInfo>;
  /**
   * Reads `signals` of one vehicle in one upstream request, in `units`. Never throws for Smartcar's
   * answers: each signal gets its reading or its failure.
   */
  readSignals(credential: Credential, vehicleId: string, signals: readonly SignalName[], units: UnitSystem): Promise<SignalAnswers>;
  command(credential: Credential, vehicleId: string, command: CommandName): Promise<CommandResult>;
  /** Ends the application's access to the vehicle (v2 `DELETE /application`, v3 its connection). */
  disconnect(credential: Credential, vehicleId: string): Promise<void>;
}

import type { Config } from '../config';
import type { SmartcarClientOptions, V3AdapterOptions } from './smartcar.client';

/** The Smartcar applications the gateway talks as: from Config, or the in-process simulator's. */
export interface SmartcarIdentity {
  /** v2 credentials (the SDK): in v3 mode the Application ID is the legacy v2 client id. */
  v2: { clientId: string; clientSecret: string };
  /** v3 (SMARTCAR_API_VERSION=3): the `client_…` API credentials and the Application ID; null in v2 mode. */
  v3: { clientId: string; clientSecret: string; applicationId: string } | null;
  /** null: the SDK's defaults. */
  v2Origins: SmartcarClientOptions['origins'];
  v3Origins: V3AdapterOptions['origins'];
}

/** The simulator's own applications and origin (simulator mode). */
export interface SimulatorIdentity {
  client: { clientId: string; clientSecret: string };
  v3: { clientId: string; clientSecret: string; applicationId: string };
  origin: string;
}

/** Who the gateway is at Smartcar (pure: Config and, in simulator mode, the simulator's identity). */
export function smartcarIdentity(config: Config['smartcar'], simulator: SimulatorIdentity | null): SmartcarIdentity {
  const v3Mode = config.apiVersion === 3;
  if (simulator) {
    const o = simulator.origin;
    return {
      v2: simulator.client,
      v3: v3Mode ? simulator.v3 : null,
      v2Origins: { auth: o, api: o, management: o },
      v3Origins: { iam: o, api: o, connect: o, management: o },
    };
  }
  // Config guarantees credentials outside simulator mode, and an Application ID in v3 mode.
  const credentials = config.credentials!;
  const applicationId = config.v3.applicationId!;
  return {
    // A v2 connection made before the switch to v3 refreshes with the legacy id; see the README.
    v2: v3Mode ? { clientId: applicationId, clientSecret: credentials.clientSecret } : credentials,
    v3: v3Mode ? { ...credentials, applicationId } : null,
    v2Origins: config.origins,
    v3Origins: { ...config.v3.origins },
  };
}

/** The adapters' options for that identity. */
export function adapterOptions(config: Config['smartcar'], id: SmartcarIdentity, redirectUri: string): { v2: SmartcarClientOptions; v3: V3AdapterOptions | null } {
  const common = { redirectUri, mode: config.mode, timeoutMs: config.timeoutMs, tokenTimeoutMs: config.tokenTimeoutMs };
  return {
    v2: { ...id.v2, ...common, origins: id.v2Origins },
    v3: id.v3 ? { ...id.v3, ...common, origins: id.v3Origins } : null,
  };
}

import type { Credential, SmartcarPort } from './smartcar.port';
import { createV2Adapter, type SmartcarClientOptions } from './v2.adapter';
import { createV3Adapter, type V3AdapterOptions, type V3WebhookSubscriptions } from './v3.adapter';
import type { FetchAppToken } from '../tokens/app-token';

export type { SmartcarClientOptions, V3AdapterOptions };

export interface SmartcarClient {
  port: SmartcarPort;
  /** v3 mode: the token endpoint of the application token; null in v2 mode. */
  fetchAppToken: FetchAppToken | null;
  /** v3 mode: vehicles' webhook subscriptions; null in v2 mode. */
  webhooks: V3WebhookSubscriptions | null;
}

/**
 * The gateway's Smartcar. Each call goes to the adapter of its credential's version, so a session's
 * v2 and v3 connections are each served by their own API; Connect URLs are v3's in v3 mode. The code
 * exchange and refresh are v2's whatever the mode (a v3 connection has neither).
 */
export function createSmartcarClient(v2Options: SmartcarClientOptions, v3Options: V3AdapterOptions | null): SmartcarClient {
  const v2 = createV2Adapter(v2Options);
  if (!v3Options) return { port: v2, fetchAppToken: null, webhooks: null };
  const v3 = createV3Adapter(v3Options);
  const of = (c: Credential): SmartcarPort => (c.api === 3 ? v3.port : v2);
  const port: SmartcarPort = {
    authUrl: (input) => v3.port.authUrl(input),
    exchangeCode: (code) => v2.exchangeCode(code),
    refreshTokens: (refreshToken) => v2.refreshTokens(refreshToken),
    describeConnection: (c, externalId) => of(c).describeConnection(c, externalId),
    readSignals: (c, vehicleId, names, units) => of(c).readSignals(c, vehicleId, names, units),
    command: (c, vehicleId, command) => of(c).command(c, vehicleId, command),
    disconnect: (c, vehicleId) => of(c).disconnect(c, vehicleId),
  };
  return { port, fetchAppToken: v3.fetchAppToken, webhooks: v3.webhooks };
}

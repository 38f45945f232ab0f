import { createHash } from 'node:crypto';
import type { SimClient } from '../options';

/**
 * An application's v3 credentials, beside its v2 ones: the `client_…` API client id and secret (for
 * the client-credentials token only), the Application Management Token (the key of webhook
 * signatures and of v2's management API) and its one webhook. The Application ID that Connect takes
 * is the v2 client id (Smartcar's legacy client id equals the Application ID).
 */
export interface V3Credentials {
  clientId: string;
  clientSecret: string;
  managementToken: string;
  webhookId: string;
  webhookName: string;
}

/** The built-in application's v3 credentials (printed by `npm run simulator`). */
export const DEFAULT_V3: V3Credentials = {
  clientId: 'client_9d3a2a505d1c4e5f9a5751a7c0ffee01',
  clientSecret: 'simulator-v3-secret-7c1e9b2d4f6a8053e1d7',
  managementToken: 'simulator-amt-3f5d7b9e1a2c4e6f8091a3b5',
  webhookId: '5a8e2c1d-7b3f-4e9a-8c6d-2f1e0b9a7c53',
  webhookName: 'Simulator webhook',
};

/**
 * The client's own v3 credentials, or ones derived from its secret (stable across restarts, and not
 * guessable from its public id).
 */
export function v3CredentialsOf(client: SimClient): V3Credentials {
  if (client.v3) return client.v3;
  const h = (purpose: string) => createHash('sha256').update(`${purpose}:${client.clientSecret}`).digest('hex');
  const w = h('webhook');
  return {
    clientId: `client_${h('client').slice(0, 32)}`,
    clientSecret: h('secret').slice(0, 40),
    managementToken: h('amt').slice(0, 40),
    webhookId: `${w.slice(0, 8)}-${w.slice(8, 12)}-4${w.slice(13, 16)}-a${w.slice(17, 20)}-${w.slice(20, 32)}`,
    webhookName: `${client.name ?? 'Application'} webhook`,
  };
}

/** The `export` block of `npm run simulator` for API v3, every v3 origin pointing at `origin`. */
export function v3EnvOf(origin: string, applicationId: string, c: V3Credentials): Record<string, string> {
  return {
    SMARTCAR_API_VERSION: '3',
    SMARTCAR_CLIENT_ID: c.clientId,
    SMARTCAR_CLIENT_SECRET: c.clientSecret,
    SMARTCAR_APPLICATION_ID: applicationId,
    SMARTCAR_MANAGEMENT_TOKEN: c.managementToken,
    SMARTCAR_WEBHOOK_ID: c.webhookId,
    SMARTCAR_IAM_ORIGIN: origin,
    SMARTCAR_API_V3_ORIGIN: origin,
    SMARTCAR_MANAGEMENT_API_V3_ORIGIN: origin,
    SMARTCAR_CONNECT_ORIGIN: origin,
  };
}

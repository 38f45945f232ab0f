import type { RunningSimulator } from '../../src/simulator';
import { completeConsent } from './connect';
import type { Client } from './gateway';

/** API v3 through the gateway: Connect as a driver, then completeConnect with the whole redirect URL. */

/** The environment of a gateway in v3 mode against `sim` (its `client_…` credentials, its origins). */
export const v3Env = (sim: RunningSimulator): Record<string, string> => ({ ...sim.v3Env, SMARTCAR_WEBHOOK_ID: '' });

/** The URL Connect redirects `username` to after consenting on `client`'s connectUrl. */
export async function consentV3(client: Client, username: string, args = ''): Promise<URL> {
  const res = await client.gql<{ connectUrl: string }>(`{ connectUrl${args} }`);
  if (res.errors) throw new Error(`connectUrl failed: ${JSON.stringify(res.errors)}`);
  return completeConsent(res.data!.connectUrl, { username });
}

export const COMPLETE = 'mutation($u: String!) { completeConnect(redirectUrl: $u) { vehicles { id make } } }';

/** Connects `username`'s cars to `client`'s session through v3; returns the vehicle ids. */
export async function connectV3Car(client: Client, username: string): Promise<string[]> {
  const back = await consentV3(client, username);
  const res = await client.gql<{ completeConnect: { vehicles: { id: string }[] } }>(COMPLETE, { u: back.toString() });
  if (res.errors) throw new Error(`completeConnect failed: ${JSON.stringify(res.errors)}`);
  return res.data!.completeConnect.vehicles.map((v) => v.id);
}

import { hashSessionToken } from '../../src/session/session.token';
import type { RunningSimulator } from '../../src/simulator';
import { completeConsent } from './connect';
import type { Client } from './gateway';

/**
 * Connects `username`'s cars to `client`'s session the way an app does (connectUrl, the consent page,
 * exchangeCode with the state), optionally with short-lived access tokens. Returns the vehicle ids.
 */
export async function connectCar(sim: RunningSimulator, client: Client, username: string, options: { accessTokenTtlSec?: number } = {}): Promise<string[]> {
  if (options.accessTokenTtlSec !== undefined) sim.configure({ accessTokenTtlSec: options.accessTokenTtlSec });
  try {
    const url = (await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl;
    const back = await completeConsent(url, { username });
    const res = await client.gql<{ exchangeCode: { vehicles: { id: string }[] } }>(
      'mutation($code: String!, $state: String) { exchangeCode(code: $code, state: $state) { vehicles { id } } }',
      { code: back.searchParams.get('code'), state: back.searchParams.get('state') },
    );
    if (res.errors) throw new Error(`exchangeCode failed: ${JSON.stringify(res.errors)}`);
    return res.data!.exchangeCode.vehicles.map((v) => v.id);
  } finally {
    if (options.accessTokenTtlSec !== undefined) sim.configure({ accessTokenTtlSec: 7200 });
  }
}

/** The Redis keys (with `prefix`) of the token pairs of `client`'s cookie session. */
export async function connectionKeysOf(redis: { keys(pattern: string): Promise<string[]> }, prefix: string, client: Client): Promise<string[]> {
  const hash = hashSessionToken(client.cookies.get('sid') ?? client.bearer!);
  return (await redis.keys(`${prefix}sess:{${hash}}:conn:*`)).filter((k) => !/:(lock|cooldown)$/.test(k)).sort();
}

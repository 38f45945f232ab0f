import { randomBytes } from 'node:crypto';
import { Client, gatewayEnv } from '../../support/gateway';
import { processStack, type GatewayProcess } from '../../support/processes';
import { connectV3Car, v3Env } from '../../support/v3';

/**
 * Three gateway processes in v3 mode sharing one Redis and one Smartcar: the application token is
 * one for all of them, so when it expires, 50 concurrent requests across the three cost exactly one
 * token request.
 */

const ps = processStack('tv3m');
const { processes } = ps;

function startGateway(): Promise<GatewayProcess> {
  // A loaded machine (three gateways, jest, other work) can take longer than 500 ms for one Redis command.
  return processes.start({ ...gatewayEnv(ps.sim, ps.prefix, ps.key), ...v3Env(ps.sim), LOG_LEVEL: 'info', REDIS_COMMAND_TIMEOUT_MS: '5000' });
}

const tokenRequests = (since: number) => ps.sim.requests(since).filter((r) => r.kind === 'token');
const lastSeq = () => ps.sim.requests().at(-1)?.seq ?? 0;

test('50 concurrent requests across three processes when the application token expires: exactly one token request', async () => {
  const gateways = await Promise.all([startGateway(), startGateway(), startGateway()]);
  const client = new Client(gateways[0]!.url);
  const username = `v3multi-${randomBytes(4).toString('hex')}@example.com`;
  const [id] = await connectV3Car(client, username);
  const as = (url: string) => Object.assign(new Client(url), { cookies: client.cookies });
  const read = (url: string) => as(url).gql<{ vehicle: { odometer: { distance: number } } }>('{ vehicle { odometer(maxAge: 0) { distance } } }');

  // Every process reads once: the first fetched the token, the others found it in Redis.
  for (const g of gateways) expect((await read(g.url)).errors).toBeUndefined();
  expect(tokenRequests(0).map((r) => r.status)).toEqual([200]);

  ps.sim.expireAppTokens();
  const since = lastSeq();
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => read(gateways[i % 3]!.url)));
  for (const r of answers) {
    expect(r.errors).toBeUndefined();
    expect(r.data!.vehicle.odometer.distance).toBeGreaterThan(0);
  }
  expect(tokenRequests(since).map((r) => `${r.path} ${r.status}`)).toEqual(['/oauth2/token 200']);
  // Each request went upstream with the old token (401) or the new one (200), and every one got its reading.
  const reads = ps.sim.requests(since).filter((r) => r.kind === 'api' && r.vehicleId === id);
  expect(reads.filter((r) => r.status === 200)).toHaveLength(50);
  expect(reads.every((r) => r.status === 200 || r.status === 401)).toBe(true);
  expect(reads.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(3);
}, 120_000);

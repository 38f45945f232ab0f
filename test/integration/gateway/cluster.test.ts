import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { createApp, type RunningApp } from '../../../src/app';
import { loadConfig } from '../../../src/config';
import { createLogger } from '../../../src/logger';
import { hashSessionToken } from '../../../src/session/session.token';
import { startSimulator, type RunningSimulator } from '../../../src/simulator';
import { completeConsent } from '../../support/connect';
import { Client, gatewayEnv } from '../../support/gateway';
import { hasClusterTools, startPrivateCluster, type PrivateCluster } from '../../support/redis-cluster';

/**
 * The gateway on a real Redis Cluster (three masters on loopback, each requiring a password): the
 * password comes from REDIS_URL and reaches every node; every script and lock works because each
 * session's keys share one hash tag, and sessions spread over the masters.
 */

const maybe = hasClusterTools() ? describe : describe.skip;
if (!hasClusterTools()) console.warn('cluster test skipped: redis-server / redis-cli not installed');

maybe('on Redis Cluster', () => {
  let cluster: PrivateCluster;
  let sim: RunningSimulator;
  let app: RunningApp;
  let probe: Cluster;
  const prefix = `tc${randomBytes(3).toString('hex')}:`;
  const password = `pw/${randomBytes(6).toString('hex')}@`;

  beforeAll(async () => {
    cluster = await startPrivateCluster({ password });
    sim = await startSimulator();
    const config = loadConfig({
      ...gatewayEnv(sim, prefix, randomBytes(32).toString('base64')),
      // Only the credentials of REDIS_URL count in cluster mode; its host is not one of the nodes.
      REDIS_URL: `redis://:${encodeURIComponent(password)}@127.0.0.1:1`,
      REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
      RATE_LIMIT_SESSION_PER_MIN: '1000',
      TOKEN_REFRESH_MARGIN_SEC: '0',
      LOG_LEVEL: 'silent',
    });
    app = await createApp(config, { logger: createLogger('silent') });
    probe = new Cluster(cluster.nodes, { redisOptions: { password } });
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await sim?.stop();
    probe?.disconnect();
    await cluster?.stop();
  });

  async function connect(client: Client, username: string): Promise<string[]> {
    const url = (await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl;
    const back = await completeConsent(url, { username });
    const res = await client.gql<{ exchangeCode: { vehicles: { id: string }[] } }>('mutation($c: String!, $s: String) { exchangeCode(code: $c, state: $s) { vehicles { id } } }', {
      c: back.searchParams.get('code'),
      s: back.searchParams.get('state'),
    });
    expect(res.errors).toBeUndefined();
    return res.data!.exchangeCode.vehicles.map((v) => v.id);
  }

  test('connect, read, refresh, disconnect, sweep and sign out, with sessions spread over the masters', async () => {
    const clients = Array.from({ length: 8 }, () => new Client(app.url));
    const usernames = clients.map((_, i) => `cluster-${i}-${Date.now()}+2@example.com`);
    for (const [i, c] of clients.entries()) await connect(c, usernames[i]!);

    // Reads through the DataLoader, the readings cache and the attributes.
    for (const c of clients) {
      const res = await c.gql<{ vehicles: { make: string; odometer: { distance: number } }[] }>('{ vehicles { make odometer { distance } } }');
      expect(res.errors).toBeUndefined();
      expect(res.data!.vehicles).toHaveLength(2);
    }

    // Sessions live on more than one master.
    const masters = probe.nodes('master');
    const counts = await Promise.all(masters.map(async (m) => (await m.keys(`${prefix}sess:*`)).length));
    expect(counts.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);

    // A refresh: lock, compare-and-set, session extension, all in one slot.
    sim.expireAccessTokens(usernames[0]!);
    sim.resetRequests();
    const refreshed = await clients[0]!.gql('{ vehicle { odometer(maxAge: 0) { distance } } }');
    expect(refreshed.errors).toBeUndefined();
    expect(sim.requests().filter((r) => r.grantType === 'refresh_token').map((r) => r.status)).toEqual([200]);

    // The sweep scans every master.
    const hash = hashSessionToken(clients[1]!.cookies.get('sid')!);
    // KEYS goes to one node of a cluster: ask every master.
    const [connKey] = (await Promise.all(masters.map((m) => m.keys(`${prefix}sess:{${hash}}:conn:*`)))).flat();
    expect(connKey).toMatch(/:conn:[\w-]+$/);
    await probe.hset(connKey!, 'iat', Date.now() - 51 * 86_400_000);
    const swept = await app.sweepNow();
    expect(swept).toMatchObject({ ran: true, refreshed: 1, failed: 0 });
    expect(swept.scanned).toBe(8);

    // Disconnect one car (script over four keys), then sign out (script over the whole session).
    const ids = (await clients[2]!.gql<{ session: { vehicleIds: string[] } }>('{ session { vehicleIds } }')).data!.session.vehicleIds;
    expect((await clients[2]!.gql('mutation($id: ID!) { disconnectVehicle(id: $id) }', { id: ids[0] })).data).toEqual({ disconnectVehicle: true });
    const signOutHash = hashSessionToken(clients[2]!.cookies.get('sid')!);
    expect((await clients[2]!.gql('mutation { signOut }')).data).toEqual({ signOut: true });
    const left = await Promise.all(masters.map((m) => m.keys(`${prefix}*${signOutHash}*`)));
    expect(left.flat()).toEqual([]);
  }, 60_000);
});

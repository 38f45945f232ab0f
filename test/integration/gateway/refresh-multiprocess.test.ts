import { hashSessionToken } from '../../../src/session/session.token';
import { completeConsent } from '../../support/connect';
import { Client, gatewayEnv } from '../../support/gateway';
import { processStack, type GatewayProcess } from '../../support/processes';

/**
 * Several gateway processes (real child processes, the way users scale the gateway) sharing one
 * Redis and one Smartcar: exactly one refresh across all of them, and recovery when the process
 * holding the refresh lock is killed in the middle of a refresh.
 */

const LOCK_TTL_MS = 4_000;

const ps = processStack('tm');
const { processes } = ps;

/** A gateway process; resolves with its URL once it logged that it is ready. */
function startGateway(): Promise<GatewayProcess> {
  return processes.start({
    ...gatewayEnv(ps.sim, ps.prefix, ps.key),
    TOKEN_REFRESH_MARGIN_SEC: '0',
    SMARTCAR_TIMEOUT_MS: '3000',
    TOKEN_REFRESH_LOCK_TTL_MS: String(LOCK_TTL_MS),
    LOG_LEVEL: 'info',
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const refreshes = () => ps.sim.requests().filter((r) => r.kind === 'token' && r.grantType !== 'authorization_code');

/** Connects a fresh user (1-second access token) through `url`; returns the session cookie value. */
async function connectShortLived(url: string, username: string): Promise<Client> {
  const client = new Client(url);
  ps.sim.configure({ accessTokenTtlSec: 1 });
  try {
    const connectUrl = (await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl;
    const back = await completeConsent(connectUrl, { username });
    const res = await client.gql('mutation($c: String!, $s: String) { exchangeCode(code: $c, state: $s) { vehicles { id } } }', {
      c: back.searchParams.get('code'),
      s: back.searchParams.get('state'),
    });
    expect(res.errors).toBeUndefined();
  } finally {
    ps.sim.configure({ accessTokenTtlSec: 7200 });
  }
  return client;
}

function as(client: Client, url: string): Client {
  const other = new Client(url);
  other.cookies = client.cookies;
  return other;
}

async function connectionKey(client: Client): Promise<string> {
  const hash = hashSessionToken(client.cookies.get('sid')!);
  const [k] = (await ps.redis.keys(`${ps.prefix}sess:{${hash}}:conn:*`)).filter((x) => !/:(lock|cooldown)$/.test(x));
  return k!;
}

test('three processes hit at once on an expired token: one refresh in all, then all serve with the new pair', async () => {
  const gateways = await Promise.all([startGateway(), startGateway(), startGateway()]);
  const username = `multi-${Date.now()}@example.com`;
  const client = await connectShortLived(gateways[0]!.url, username);
  const make = ps.sim.user(username).vehicles[0]!.make;
  await sleep(1_100);
  ps.sim.resetRequests();

  const round = () =>
    Promise.all(gateways.flatMap((g) => Array.from({ length: 15 }, () => as(client, g.url).gql<{ vehicle: { make: string } }>('{ vehicle { make } }'))));
  for (const r of await round()) {
    expect(r.errors).toBeUndefined();
    expect(r.data!.vehicle.make).toBe(make);
  }
  expect(refreshes().map((r) => r.status)).toEqual([200]);

  // A fresh reading (maxAge 0) makes every process call Smartcar again, with whatever pair it reads.
  ps.sim.resetRequests();
  for (const g of gateways) {
    const r = await as(client, g.url).gql<{ vehicle: { odometer: { distance: number } } }>('{ vehicle { odometer(maxAge: 0) { distance } } }');
    expect(r.errors).toBeUndefined();
    expect(r.data!.vehicle.odometer.distance).toBeGreaterThan(0);
  }
  expect(refreshes()).toEqual([]);
  expect(ps.sim.requests().map((r) => `${r.endpoint}:${r.status}`)).toEqual(['/odometer:200', '/odometer:200', '/odometer:200']);
  // The next test times a recovery between exactly two processes.
  for (const g of gateways) g.child.kill('SIGKILL');
}, 60_000);

test('the lock holder is killed mid-refresh: the next request recovers within the lock TTL, nothing is lost', async () => {
  const [a, b] = await Promise.all([startGateway(), startGateway()]);
  const username = `killed-${Date.now()}@example.com`;
  const client = await connectShortLived(a!.url, username);
  const connKey = await connectionKey(client);
  await sleep(1_100);
  // Smartcar takes 2.5 s to answer the next refresh; the process asking will be dead by then.
  const delayed = ps.sim.addFault({ target: 'token', mode: 'delay', delayMs: 2_500, count: 1 });
  ps.sim.resetRequests();

  void as(client, a!.url).gql('{ vehicle { make } }').catch(() => undefined);
  // Killed once its refresh has reached Smartcar (the delay fault is taken): under load, taking the
  // lock and sending the refresh can be far apart, and the next refresh would then be the delayed one.
  for (let i = 0; !(await ps.redis.exists(`${connKey}:lock`)) || delayed.remaining !== 0; i++) {
    if (i > 250) throw new Error('the refresh lock was never taken, or the refresh never sent');
    await sleep(20);
  }
  a!.child.kill('SIGKILL');

  const started = Date.now();
  const res = await as(client, b!.url).gql<{ vehicle: { make: string } }>('{ vehicle { make } }');
  const took = Date.now() - started;
  expect(res.errors).toBeUndefined();
  expect(res.data!.vehicle.make).toBe(ps.sim.user(username).vehicles[0]!.make);
  expect(took).toBeLessThan(LOCK_TTL_MS + 2_000);
  // The dead process's refresh reached Smartcar and rotated the token, but its answer was lost (0);
  // B recovered with the old refresh token, still inside its grace window.
  expect(refreshes().map((r) => r.status)).toEqual([0, 200]);
  expect((await ps.redis.hgetall(connKey)).ver).toBe('2');
  expect(await ps.redis.exists(`${connKey}:lock`)).toBe(0);
}, 60_000);

import { createClient, type Client as WsClient } from 'graphql-ws';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import WebSocket from 'ws';
import type { RunningApp } from '../../../src/app';
import { createLogger } from '../../../src/logger';
import { VehicleEvents } from '../../../src/live/vehicle-events';
import { metrics } from '../../../src/metrics';
import { LIVE_LIMITS } from '../../../src/services';
import { SessionStore } from '../../../src/session/session.store';
import { hashSessionToken } from '../../../src/session/session.token';
import { ReadingsCache } from '../../../src/vehicles/readings.cache';
import { connectCar } from '../../support/car';
import { completeConsent } from '../../support/connect';
import { Client, startStack, testRedisUrl, type Stack } from '../../support/gateway';
import { startPrivateRedis, type PrivateRedis } from '../../support/redis-server';

/**
 * `vehicleUpdated` over graphql-ws with real sockets, real Redis pub/sub between two gateways, and
 * the simulator's record of upstream requests (a subscription must never cost one).
 */

let stack: Stack;
let b: RunningApp; // a second gateway on the same Redis and simulator
let publisher: VehicleEvents; // a third instance: publishes as the webhook ingest or a query would
let prefixed: Redis;
beforeAll(async () => {
  stack = await startStack();
  b = await stack.another();
  prefixed = new Redis(testRedisUrl(), { keyPrefix: stack.prefix });
  publisher = new VehicleEvents(prefixed, prefixed.duplicate(), LIVE_LIMITS, createLogger('silent'));
});
const wsClients: WsClient[] = [];
afterAll(async () => {
  await Promise.all(wsClients.map((c) => c.dispose()));
  await publisher.stop();
  prefixed.disconnect();
  await stack.stop();
});

const VEHICLE = 'subscription($id: ID) { vehicleUpdated(id: $id) { id make model year odometer { distance } } }';
type Result = { data?: { vehicleUpdated: Record<string, unknown> } | null; errors?: { message: string; path?: string[]; extensions: { code: string } & Record<string, unknown> }[] };

const wsUrl = (app: RunningApp, path = '/graphql') => `${app.url.replace(/^http/, 'ws')}${path}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean | Promise<boolean>, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}
const subscribers = async () => (await metrics.liveSubscribers.get()).values[0]?.value ?? 0;
const eventsSent = async () => (await metrics.liveEventsSent.get()).values[0]?.value ?? 0;
const upstream = () => stack.sim.requests().filter((r) => r.kind !== 'connect').length;

/** A WebSocket class that sends these headers with its upgrade (what a browser does with its cookie). */
function withHeaders(headers: Record<string, string>) {
  return class extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  };
}

interface Sub {
  results: Result[];
  completed: boolean;
  error: unknown;
  closeCodes: number[];
  /** When the socket closed (epoch ms). */
  closedAt: number | null;
  stop(): void;
}

/**
 * One subscription on its own connection: the session from `as` (its cookie, or its bearer token
 * as connectionParams), results collected.
 */
function subscribe(app: RunningApp, as: Client | { bearer?: string; cookie?: string; origin?: string } | null, query = VEHICLE, variables: Record<string, unknown> = {}): Sub {
  const bearer = as instanceof Client ? as.bearer : as?.bearer;
  const cookie = as instanceof Client ? (as.cookies.has('sid') ? `sid=${as.cookies.get('sid')}` : undefined) : as?.cookie;
  const headers: Record<string, string> = {};
  if (cookie) headers.cookie = cookie;
  if (!(as instanceof Client) && as?.origin) headers.origin = as.origin;
  const sub: Sub = { results: [], completed: false, error: null, closeCodes: [], closedAt: null, stop: () => undefined };
  const client = createClient({
    url: wsUrl(app),
    webSocketImpl: withHeaders(headers),
    connectionParams: bearer ? { authorization: `Bearer ${bearer}` } : {},
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined,
    on: {
      closed: (e) => {
        sub.closeCodes.push((e as { code: number }).code);
        sub.closedAt ??= Date.now();
      },
    },
  });
  wsClients.push(client);
  sub.stop = client.subscribe<Result['data']>({ query, variables }, {
    next: (r) => void sub.results.push(r as Result),
    error: (e) => void (sub.error = e),
    complete: () => void (sub.completed = true),
  });
  return sub;
}

/** A subscription that the gateway has registered (the protocol has no acknowledgement of its own). */
async function subscribed(app: RunningApp, as: Client | { bearer: string }, variables: Record<string, unknown> = {}, query = VEHICLE): Promise<Sub> {
  const before = await subscribers();
  const sub = subscribe(app, as, query, variables);
  await until(async () => (await subscribers()) > before || sub.results.length > 0 || sub.error !== null);
  return sub;
}

const sessionHashOf = (c: Client) => hashSessionToken(c.cookies.get('sid') ?? c.bearer!);

/** make/model/year are cached for good once a query has read them. */
const readAttributes = async (client: Client) => expect((await client.gql('{ vehicles { make model year } }')).errors).toBeUndefined();

async function cookieDriver(username: string, options: { attributes?: boolean } = {}): Promise<{ client: Client; ids: string[] }> {
  const client = new Client(stack.url);
  const ids = await connectCar(stack.sim, client, username);
  if (options.attributes !== false) await readAttributes(client);
  return { client, ids };
}

async function bearerDriver(username: string): Promise<{ client: Client; ids: string[] }> {
  const client = new Client(stack.url);
  const created = await client.gql<{ createSession: { token: string } }>('mutation { createSession { token } }');
  client.bearer = created.data!.createSession.token;
  client.cookies.clear();
  const ids = await connectCar(stack.sim, client, username);
  await readAttributes(client);
  return { client, ids };
}

/** Writes an odometer reading into the cache of the session's (first) connection, as a webhook would. */
async function cacheOdometer(client: Client, vehicleId: string, distance: number): Promise<void> {
  const hash = sessionHashOf(client);
  const session = (await new SessionStore(prefixed).load(hash))!;
  const ref = session.connections.find((c) => c.vehicleIds?.includes(vehicleId))!;
  await new ReadingsCache(prefixed).set(hash, ref.id, [[{ vehicleId, signal: 'odometer', units: 'metric' }, { values: { distance }, dataAge: Date.now(), fetchedAt: Date.now(), receivedAt: Date.now() }]]);
}

test('an update published by another instance reaches the session’s subscriber on gateway B within a second, from the cache only; another session hears nothing', async () => {
  const mine = await cookieDriver(`ws-a-${Date.now()}@example.com`);
  const theirs = await bearerDriver(`ws-b-${Date.now()}@example.com`);
  const sentBefore = await eventsSent();
  const sub = await subscribed(b, mine.client);
  const other = await subscribed(stack.app, theirs.client);
  stack.sim.resetRequests();

  const started = Date.now();
  await publisher.publish({ sessionHash: sessionHashOf(mine.client), vehicleId: mine.ids[0]! });
  await until(() => sub.results.length === 1, 1_000);
  expect(Date.now() - started).toBeLessThan(1_000);
  const first = sub.results[0]!;
  expect(first.errors).toBeUndefined();
  // make/model/year are cached (a query read them); no odometer reading is cached yet: null, no error.
  expect(first.data!.vehicleUpdated).toEqual({ id: mine.ids[0], make: expect.any(String), model: expect.any(String), year: expect.any(Number), odometer: null });

  await cacheOdometer(mine.client, mine.ids[0]!, 4321.5);
  await publisher.publish({ sessionHash: sessionHashOf(mine.client), vehicleId: mine.ids[0]! });
  await until(() => sub.results.length === 2, 1_000);
  expect(sub.results[1]!.data!.vehicleUpdated.odometer).toEqual({ distance: 4321.5 });

  await sleep(300);
  expect(other.results).toEqual([]); // nothing of another session
  await publisher.publish({ sessionHash: sessionHashOf(theirs.client), vehicleId: theirs.ids[0]! });
  await until(() => other.results.length === 1, 1_000); // the control: it does hear its own
  expect(other.results[0]!.data!.vehicleUpdated.id).toBe(theirs.ids[0]);
  expect(sub.results).toHaveLength(2);

  expect(upstream()).toBe(0);
  expect((await eventsSent()) - sentBefore).toBe(3);
  const exposed = await (await fetch(`${b.url}/metrics`)).text();
  expect(exposed).toMatch(/^gateway_live_subscribers [1-9]\d*$/m);
  expect(exposed).toMatch(/^gateway_live_events_sent_total [1-9]\d*$/m);
  sub.stop();
  other.stop();
});

test('with an id, only that vehicle; without, any of the session’s; a foreign id is NOT_FOUND', async () => {
  const { client, ids } = await cookieDriver(`ws-ids-${Date.now()}+3@example.com`);
  expect(ids).toHaveLength(3);
  const one = await subscribed(b, client, { id: ids[1] });
  const any = await subscribed(b, client);
  stack.sim.resetRequests();
  const hash = sessionHashOf(client);
  for (const id of ids) await publisher.publish({ sessionHash: hash, vehicleId: id });
  await until(() => any.results.length === 3);
  await sleep(200);
  expect(one.results.map((r) => r.data!.vehicleUpdated.id)).toEqual([ids[1]]);
  expect(new Set(any.results.map((r) => r.data!.vehicleUpdated.id))).toEqual(new Set(ids));

  expect(upstream()).toBe(0);
  const foreign = (await cookieDriver(`ws-foreign-${Date.now()}@example.com`)).ids[0]!;
  stack.sim.resetRequests();
  const refused = subscribe(b, client, VEHICLE, { id: foreign });
  await until(() => refused.completed);
  expect(refused.results.map((r) => r.errors?.map((e) => [e.path?.join('.'), e.extensions.code, e.message]))).toEqual([[['vehicleUpdated', 'NOT_FOUND', 'No such vehicle in this session.']]]);
  expect(upstream()).toBe(0);
  one.stop();
  any.stop();
});

test('make, model and year not cached yet: the event fails with NOT_FOUND at the field (they are non-null), and costs nothing upstream', async () => {
  const { client, ids } = await cookieDriver(`ws-nomake-${Date.now()}@example.com`, { attributes: false });
  const sub = await subscribed(b, client, {}, 'subscription { vehicleUpdated { id make vin } }');
  stack.sim.resetRequests();
  await publisher.publish({ sessionHash: sessionHashOf(client), vehicleId: ids[0]! });
  await until(() => sub.results.length === 1);
  expect(sub.results[0]!.data).toBeNull(); // a non-null field failed: the whole (non-null) event is null
  expect(sub.results[0]!.errors!.map((e) => [e.path!.join('.'), e.extensions.code, e.message])).toEqual([
    ['vehicleUpdated.make', 'NOT_FOUND', "make is not in the gateway's cache yet, and a subscription never asks Smartcar: read the vehicle once with a query, then it is."],
  ]);
  expect(upstream()).toBe(0);

  await readAttributes(client); // over HTTP: this one asks Smartcar
  stack.sim.resetRequests();
  await publisher.publish({ sessionHash: sessionHashOf(client), vehicleId: ids[0]! });
  await until(() => sub.results.length === 2);
  expect(sub.results[1]).toEqual({ data: { vehicleUpdated: { id: ids[0], make: expect.any(String), vin: null } } }); // VIN nullable: not cached, null
  expect(upstream()).toBe(0);
  sub.stop();
});

test('permissions apply as in queries: a field without its scope is PERMISSION_DENIED, the rest resolves', async () => {
  const client = new Client(stack.url);
  const url = (await client.gql<{ connectUrl: string }>('query($scope: [String!]) { connectUrl(scope: $scope) }', { scope: ['required:read_vehicle_info', 'read_odometer'] })).data!.connectUrl;
  const back = await completeConsent(url, { username: `ws-perm-${Date.now()}@example.com` });
  const exchanged = await client.gql<{ exchangeCode: { vehicles: { id: string }[] } }>('mutation($code: String!, $state: String) { exchangeCode(code: $code, state: $state) { vehicles { id } } }', {
    code: back.searchParams.get('code'),
    state: back.searchParams.get('state'),
  });
  const id = exchanged.data!.exchangeCode.vehicles[0]!.id;
  await cacheOdometer(client, id, 12);
  const sub = await subscribed(b, client, {}, 'subscription { vehicleUpdated { id odometer(maxAge: 0) { distance } location { latitude } permissions } }');
  stack.sim.resetRequests();
  await publisher.publish({ sessionHash: sessionHashOf(client), vehicleId: id });
  await until(() => sub.results.length === 1);
  const [r] = sub.results;
  expect(r!.data!.vehicleUpdated).toEqual({ id, odometer: { distance: 12 }, location: null, permissions: ['read_vehicle_info', 'read_odometer'] });
  expect(r!.errors!.map((e) => [e.path!.join('.'), e.extensions.code, e.extensions.scope])).toEqual([['vehicleUpdated.location', 'PERMISSION_DENIED', 'read_location']]);
  expect(upstream()).toBe(0); // maxAge 0 too: a subscription ignores it
  sub.stop();
});

test('the session from connectionParams (bearer) and from the upgrade’s cookie; none, an unknown token or a cookie from another origin: refused with 4403', async () => {
  const bearer = await bearerDriver(`ws-bearer-${Date.now()}@example.com`);
  const viaParams = await subscribed(b, { bearer: bearer.client.bearer! });
  await publisher.publish({ sessionHash: sessionHashOf(bearer.client), vehicleId: bearer.ids[0]! });
  await until(() => viaParams.results.length === 1);
  expect(viaParams.results[0]!.data!.vehicleUpdated.id).toBe(bearer.ids[0]);
  viaParams.stop();

  const cookie = await cookieDriver(`ws-cookie-${Date.now()}@example.com`);
  const sid = `sid=${cookie.client.cookies.get('sid')}`;
  const sameOrigin = await subscribed(b, { cookie: sid, origin: b.url } as never);
  await publisher.publish({ sessionHash: sessionHashOf(cookie.client), vehicleId: cookie.ids[0]! });
  await until(() => sameOrigin.results.length === 1);
  sameOrigin.stop();

  const sessionsBefore = (await stack.redis.keys(`${stack.prefix}sess:*`)).length;
  for (const as of [null, { bearer: 'A'.repeat(43) }, { bearer: 'not-a-token' }, { cookie: sid, origin: 'https://elsewhere.example' }]) {
    const refused = subscribe(b, as);
    await until(() => refused.closeCodes.length > 0);
    expect(refused.closeCodes).toEqual([4403]);
    expect(refused.results).toEqual([]);
  }
  expect((await stack.redis.keys(`${stack.prefix}sess:*`)).length).toBe(sessionsBefore); // none created
});

test('only subscriptions run over the socket; other paths are refused at the upgrade', async () => {
  const { client } = await cookieDriver(`ws-ops-${Date.now()}@example.com`);
  const open = await subscribers();
  const query = subscribe(b, client, '{ vehicles { id } }');
  await until(() => query.error !== null || query.completed);
  expect((query.error as { extensions: { code: string } }[]).map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
  const mutation = subscribe(b, client, 'mutation { createSession { token } }');
  await until(() => mutation.error !== null || mutation.completed);
  expect((mutation.error as { extensions: { code: string } }[]).map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
  const invalid = subscribe(b, client, 'subscription { vehicleUpdated { nope } }');
  await until(() => invalid.error !== null || invalid.completed);
  expect((invalid.error as { extensions: { code: string } }[]).map((e) => e.extensions.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);

  const aliases = subscribe(b, client, `subscription { vehicleUpdated { ${Array.from({ length: 60 }, (_, i) => `a${i}: id`).join(' ')} } }`);
  await until(() => aliases.error !== null || aliases.completed);
  expect((aliases.error as { extensions: { code: string } }[]).map((e) => e.extensions.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']); // the HTTP limits apply
  expect(await subscribers()).toBeLessThanOrEqual(open); // none of them subscribed

  // Over HTTP a subscription is not served.
  const overHttp = await client.gql('subscription { vehicleUpdated { id } }');
  expect(overHttp.errors?.map((e) => [e.extensions.code, e.message])).toEqual([['BAD_USER_INPUT', 'Subscriptions run over WebSocket (graphql-transport-ws) on /graphql.']]);

  const noProtocol = new WebSocket(wsUrl(b));
  expect(await new Promise<number>((resolve) => noProtocol.on('close', (code) => resolve(code)))).toBe(4406);
  const legacy = new WebSocket(wsUrl(b), 'graphql-ws'); // subscriptions-transport-ws's: no subprotocol agreed
  expect(await new Promise<string>((resolve) => legacy.on('error', (e) => resolve(e.message)))).toBe('Server sent no subprotocol');

  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(wsUrl(b, '/elsewhere'), 'graphql-transport-ws');
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => reject(new Error('opened')));
    ws.on('error', () => undefined);
  });
  expect(status).toBe(404);
});

test('with GRAPHQL_TRUSTED_DOCUMENTS, only the manifest’s subscriptions run over the socket too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ws-trusted-'));
  const listed = 'subscription Listed { vehicleUpdated { id } }';
  const manifest = join(dir, 'manifest.json');
  writeFileSync(manifest, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: 'listed', name: 'Listed', type: 'subscription', body: listed }] }));
  const trusted = await stack.another({ GRAPHQL_TRUSTED_DOCUMENTS: manifest });
  const { client, ids } = await bearerDriver(`ws-trusted-${Date.now()}@example.com`);
  const refused = subscribe(trusted, { bearer: client.bearer! }, 'subscription Other { vehicleUpdated { id make } }');
  await until(() => refused.error !== null);
  expect((refused.error as { extensions: { code: string } }[]).map((e) => e.extensions.code)).toEqual(['PERSISTED_QUERY_NOT_ALLOWED']);
  const ok = await subscribed(trusted, { bearer: client.bearer! }, {}, listed);
  await publisher.publish({ sessionHash: sessionHashOf(client), vehicleId: ids[0]! });
  await until(() => ok.results.length === 1);
  expect(ok.results[0]).toEqual({ data: { vehicleUpdated: { id: ids[0] } } });
  ok.stop();
  await trusted.stop();
});

test('at most 20 subscriptions per session: the 21st is RATE_LIMITED; one ended frees a place', async () => {
  const { client, ids } = await bearerDriver(`ws-limit-${Date.now()}@example.com`);
  const subs: Sub[] = [];
  for (let i = 0; i < LIVE_LIMITS.perSession; i++) subs.push(await subscribed(b, client));
  const over = subscribe(b, client);
  await until(() => over.completed);
  expect(over.results.map((r) => r.errors!.map((e) => [e.extensions.code, e.message]))).toEqual([[['RATE_LIMITED', 'At most 20 subscriptions per session.']]]);
  const open = await subscribers();
  subs.pop()!.stop();
  await until(async () => (await subscribers()) === open - 1);
  const again = await subscribed(b, client);
  await publisher.publish({ sessionHash: sessionHashOf(client), vehicleId: ids[0]! });
  await until(() => again.results.length === 1 && subs.every((s) => s.results.length === 1));
  expect(again.results[0]!.errors).toBeUndefined();
  for (const s of [...subs, again]) s.stop();
});

test('each event re-reads the session: a sign-out on gateway A ends B’s subscription (UNAUTHENTICATED); a disconnected vehicle ends its own and is skipped by the others', async () => {
  const { client, ids } = await cookieDriver(`ws-gone-${Date.now()}+2@example.com`);
  const one = await subscribed(b, client, { id: ids[0] });
  const any = await subscribed(b, client);
  const hash = sessionHashOf(client);

  expect((await client.gql('mutation($id: ID!) { disconnectVehicle(id: $id) }', { id: ids[0] })).data).toEqual({ disconnectVehicle: true });
  stack.sim.resetRequests();
  await publisher.publish({ sessionHash: hash, vehicleId: ids[0]! });
  await until(() => one.completed);
  expect(one.results.map((r) => r.errors?.map((e) => e.extensions.code))).toEqual([['NOT_FOUND']]);
  await publisher.publish({ sessionHash: hash, vehicleId: ids[1]! });
  await until(() => any.results.length === 1);
  expect(any.results[0]!.data!.vehicleUpdated.id).toBe(ids[1]); // the disconnected one was skipped

  expect((await client.gql('mutation { signOut }')).data).toEqual({ signOut: true });
  await publisher.publish({ sessionHash: hash, vehicleId: ids[1]! });
  await until(() => any.completed);
  expect(any.results.slice(1).map((r) => [r.data, r.errors?.map((e) => e.extensions.code)])).toEqual([[null, ['UNAUTHENTICATED']]]);
  expect(upstream()).toBe(0);
});

test('a socket that does not answer pings is terminated; one that does stays', async () => {
  const quick = await stack.another({}, { liveKeepAliveMs: 150 });
  const { client } = await bearerDriver(`ws-ping-${Date.now()}@example.com`);
  const alive = await subscribed(quick, { bearer: client.bearer! });

  const silent = new WebSocket(wsUrl(quick), 'graphql-transport-ws', { autoPong: false });
  await new Promise((r) => silent.on('open', r));
  silent.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${client.bearer}` } }));
  const closed = await new Promise<number>((resolve) => silent.on('close', (code) => resolve(code)));
  expect(closed).toBe(1006); // terminated, no close frame
  expect(alive.closeCodes).toEqual([]);
  alive.stop();
  await quick.stop();
});

test('a message over the payload limit closes the socket (1009)', async () => {
  const { client } = await bearerDriver(`ws-big-${Date.now()}@example.com`);
  const ws = new WebSocket(wsUrl(b), 'graphql-transport-ws');
  await new Promise((r) => ws.on('open', r));
  ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${client.bearer}` } }));
  await new Promise((r) => ws.once('message', r));
  ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { vehicleUpdated { id } } # ${'x'.repeat(70_000)}` } }));
  expect(await new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))).toBe(1009);
});

test('stop() completes every subscription, closes its sockets with 1001 and refuses new upgrades; the listeners are gone', async () => {
  const doomed = await stack.another();
  const { client, ids } = await bearerDriver(`ws-stop-${Date.now()}@example.com`);
  const subs = [await subscribed(doomed, { bearer: client.bearer! }), await subscribed(doomed, { bearer: client.bearer! })];
  const survivor = await subscribed(b, { bearer: client.bearer! });
  const before = await subscribers();
  // A request in flight when the stop begins is answered before the sockets close.
  stack.sim.addFault({ target: 'api', mode: 'delay', delayMs: 800, count: 1 });
  const slow = new Client(doomed.url);
  slow.bearer = client.bearer;
  const inFlight = slow.gql<{ vehicle: { odometer: { distance: number } } }>('{ vehicle { odometer(maxAge: 0) { distance } } }').then((r) => ({ ...r, at: Date.now() }));
  await sleep(200); // at the simulator by now, answered in 600 ms more
  const stopping = Date.now();
  await doomed.stop();
  const answered = await inFlight;
  expect(answered.data!.vehicle.odometer.distance).toBeGreaterThan(0);
  expect(answered.at).toBeGreaterThan(stopping); // it was in flight
  for (const s of subs) {
    await until(() => s.closeCodes.length > 0);
    expect(s.completed).toBe(true); // the complete came before the close
    expect(s.closeCodes).toEqual([1001]);
  }
  expect(subs[0]!.closedAt).toBeGreaterThanOrEqual(answered.at); // the sockets closed after the HTTP drain
  expect(await subscribers()).toBe(before - 2);
  const late = new WebSocket(wsUrl(doomed), 'graphql-transport-ws');
  expect(await new Promise<string>((resolve) => late.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message)))).toBe('ECONNREFUSED');
  await publisher.publish({ sessionHash: sessionHashOf(client), vehicleId: ids[0]! });
  await until(() => survivor.results.length === 1); // the other gateway's subscription goes on
  survivor.stop();
});

describe('Redis hung (SIGSTOP)', () => {
  let redis: PrivateRedis;
  let own: Stack;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    own = await startStack({ redisUrl: redis.url });
  });
  afterAll(async () => {
    redis.process.kill('SIGCONT');
    await own.stop();
    await redis.stop();
  });

  test('a connection whose session cannot be read is closed with 1013 (try again later), not 4403; once Redis is back it is accepted', async () => {
    const client = new Client(own.url);
    client.bearer = (await client.gql<{ createSession: { token: string } }>('mutation { createSession { token } }')).data!.createSession.token;
    redis.process.kill('SIGSTOP');
    try {
      const refused = subscribe(own.app, { bearer: client.bearer });
      await until(() => refused.closeCodes.length > 0, 3_000);
      expect(refused.closeCodes).toEqual([1013]);
    } finally {
      redis.process.kill('SIGCONT');
    }
    const accepted = await subscribed(own.app, { bearer: client.bearer });
    expect(accepted.closeCodes).toEqual([]);
    accepted.stop();
  });
});

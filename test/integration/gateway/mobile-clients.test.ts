import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningApp } from '../../../src/app';
import { metrics } from '../../../src/metrics';
import { connectCar } from '../../support/car';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * What Apollo's mobile clients rely on: automatic persisted queries shared by every instance (the
 * cache is in Redis), operations over GET under Apollo's CSRF rule, trusted documents from a
 * persisted-query manifest, and the client's name and version in the metrics.
 */

let stack: Stack;
let client: Client;
let vehicleId: string;
const dir = mkdtempSync(join(tmpdir(), 'gw-manifest-'));

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const MAKE = 'query VehicleMake { vehicle { make model } }';
const ODOMETER = 'query Odometer { vehicle { odometer { distance } } }';
const UNLISTED = 'query Unlisted { vehicle { make lockStatus { isLocked } } }';
const upstream = () => stack.sim.requests().filter((r) => r.kind !== 'connect');

beforeAll(async () => {
  stack = await startStack();
  client = new Client(stack.url);
  [vehicleId] = await connectCar(stack.sim, client, `mobile-${Date.now()}@example.com`);
}, 30_000);
afterAll(async () => {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => stack.sim.resetRequests());

/** A GET the way Apollo iOS/Kotlin send one: parameters in the URL, the operation name as preflight header. */
async function get(app: { url: string }, params: Record<string, unknown>, headers: Record<string, string> = { 'x-apollo-operation-name': 'Op' }) {
  const search = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  const res = await fetch(`${app.url}/graphql?${search}`, { headers: { cookie: `sid=${client.cookies.get('sid')}`, ...headers } });
  return { status: res.status, body: (await res.json()) as { data?: Record<string, any> | null; errors?: { message: string; extensions: { code: string } }[] } };
}

async function post(app: { url: string }, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: `sid=${client.cookies.get('sid')}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { data?: Record<string, any> | null; errors?: { message: string; extensions: { code: string } }[] } };
}

const pq = (query: string) => ({ persistedQuery: { version: 1, sha256Hash: sha256(query) } });

describe('automatic persisted queries', () => {
  test('registered on gateway A, then sent as the hash alone over GET to gateway B', async () => {
    const b = await stack.another();
    const query = `query Apq${Date.now()} { vehicle { id make } }`;
    // Unknown everywhere yet: the client is asked for the text.
    const before = await get(b, { extensions: pq(query) });
    expect(before.status).toBe(200);
    expect(before.body.errors?.map((e) => e.extensions.code)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);

    const registered = await post(stack.app, { query, extensions: pq(query) });
    expect(registered.body.errors).toBeUndefined();
    expect(registered.body.data?.vehicle).toEqual({ id: vehicleId, make: expect.any(String) });
    // In Redis under the gateway's prefix, with a TTL (GRAPHQL_APQ_TTL_SEC, a day by default).
    const key = `${stack.prefix}gql:apq:${sha256(query)}`;
    await waitFor(async () => (await stack.redis.get(key)) === query);
    const ttl = await stack.redis.ttl(key);
    expect(ttl).toBeGreaterThan(86_000);
    expect(ttl).toBeLessThanOrEqual(86_400);

    const onB = await get(b, { extensions: pq(query) });
    expect(onB.status).toBe(200);
    expect(onB.body.errors).toBeUndefined();
    expect(onB.body.data).toEqual(registered.body.data);
  });

  test('a hash that does not match the text is refused, nothing stored', async () => {
    const query = `query Wrong${Date.now()} { vehicle { id } }`;
    const res = await post(stack.app, { query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256('something else') } } });
    expect(res.status).toBe(400);
    expect(await stack.redis.keys(`${stack.prefix}gql:apq:${sha256('something else')}`)).toEqual([]);
  });
});

describe('GET operations', () => {
  test("without a preflight header: refused by Apollo's CSRF rule, before execution", async () => {
    const res = await get(stack.app, { query: '{ vehicle { make } }' }, {});
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/CSRF|preflight/i);
    expect(upstream()).toEqual([]);
  });

  test('a query with x-apollo-operation-name runs; a mutation is only accepted over POST (405)', async () => {
    const ok = await get(stack.app, { query: 'query Op { vehicle { id } }', operationName: 'Op' });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({ vehicle: { id: vehicleId } });
    const mutation = await get(stack.app, { query: `mutation Op { lockVehicle(id: "${vehicleId}") { status } }` });
    expect(mutation.status).toBe(405);
    expect(upstream().filter((r) => r.method === 'POST')).toEqual([]);
  });
});

describe('trusted documents (GRAPHQL_TRUSTED_DOCUMENTS)', () => {
  let trusted: RunningApp;
  let production: RunningApp;
  beforeAll(async () => {
    const manifest = join(dir, 'manifest.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        format: 'apollo-persisted-query-manifest',
        version: 1,
        operations: [
          { id: sha256(MAKE), name: 'VehicleMake', type: 'query', body: MAKE },
          { id: 'odometer-v1', name: 'Odometer', type: 'query', body: ODOMETER },
        ],
      }),
    );
    trusted = await stack.another({ GRAPHQL_TRUSTED_DOCUMENTS: manifest });
    production = await stack.another({ GRAPHQL_TRUSTED_DOCUMENTS: manifest, NODE_ENV: 'production', COOKIE_SECURE: 'false' });
  });

  test('a manifest operation sent by id runs (GET and POST), with exactly the upstream calls it needs', async () => {
    const byGet = await get(trusted, { extensions: pq(MAKE), operationName: 'VehicleMake' });
    expect(byGet.body.errors).toBeUndefined();
    expect(byGet.body.data).toEqual({ vehicle: { make: expect.any(String), model: expect.any(String) } });
    stack.sim.resetRequests();
    // An id that is not a SHA-256 of the text (manifests may choose their own ids).
    const byId = await post(trusted, { extensions: { persistedQuery: { version: 1, sha256Hash: 'odometer-v1' } } });
    expect(byId.body.errors).toBeUndefined();
    expect(byId.body.data?.vehicle.odometer.distance).toEqual(expect.any(Number));
    expect(upstream().map((r) => r.path)).toEqual([`/v2.0/vehicles/${vehicleId}/odometer`]);
  });

  test('the identical text of a manifest operation runs', async () => {
    const res = await post(trusted, { query: MAKE });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.vehicle.make).toEqual(expect.any(String));
  });

  test('an unlisted operation is refused with PERSISTED_QUERY_NOT_ALLOWED, with no upstream request', async () => {
    const before = (await metrics.requests.get()).values.find((v) => v.labels.outcome === 'PERSISTED_QUERY_NOT_ALLOWED')?.value ?? 0;
    for (const res of [
      await post(trusted, { query: UNLISTED }),
      await post(trusted, { extensions: pq(UNLISTED) }),
      await get(trusted, { extensions: { persistedQuery: { version: 1, sha256Hash: 'no-such-id' } } }),
      await post(production, { query: UNLISTED }),
      await post(trusted, { query: `mutation { lockVehicle(id: "${vehicleId}") { status } }` }),
    ]) {
      expect(res.status).toBe(400);
      expect(res.body.errors?.map((e) => e.extensions.code)).toEqual(['PERSISTED_QUERY_NOT_ALLOWED']);
      expect(res.body.data).toBeUndefined();
    }
    expect(upstream()).toEqual([]);
    const after = (await metrics.requests.get()).values.find((v) => v.labels.outcome === 'PERSISTED_QUERY_NOT_ALLOWED')?.value ?? 0;
    expect(after - before).toBe(5);
  });

  test('outside production Sandbox still loads the schema (introspection alone); in production it is refused', async () => {
    const intro = await post(trusted, { query: '{ __schema { queryType { name } } }' });
    expect(intro.body.errors).toBeUndefined();
    expect(intro.body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    const mixed = await post(trusted, { query: '{ __typename vehicle { id } }' });
    expect(mixed.body.errors?.map((e) => e.extensions.code)).toEqual(['PERSISTED_QUERY_NOT_ALLOWED']);
    const prod = await post(production, { query: '{ __schema { queryType { name } } }' });
    expect(prod.body.errors?.map((e) => e.extensions.code)).toEqual(['PERSISTED_QUERY_NOT_ALLOWED']);
    expect(upstream()).toEqual([]);
  });

  test('a manifest that is not one stops the gateway at start, naming the variable', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ format: 'something', operations: [] }));
    await expect(stack.another({ GRAPHQL_TRUSTED_DOCUMENTS: bad })).rejects.toThrow(/^GRAPHQL_TRUSTED_DOCUMENTS: .*bad\.json is not an Apollo persisted-query manifest/);
    await expect(stack.another({ GRAPHQL_TRUSTED_DOCUMENTS: join(dir, 'missing.json') })).rejects.toThrow(/^GRAPHQL_TRUSTED_DOCUMENTS: cannot read/);
  });
});

test("apollographql-client-name and -version label the metrics, with bounded values", async () => {
  const count = async (name: string, version: string) =>
    (await metrics.clientRequests.get()).values.find((v) => v.labels.client_name === name && v.labels.client_version === version)?.value ?? 0;
  const before = await count('fleet-ios', '2.4.1');
  const beforeInvalid = await count('invalid', 'invalid');
  await post(stack.app, { query: '{ vehicle { id } }' }, { 'apollographql-client-name': 'fleet-ios', 'apollographql-client-version': '2.4.1' });
  await post(stack.app, { query: '{ vehicle { id } }' }, { 'apollographql-client-name': 'fleet-ios', 'apollographql-client-version': '2.4.1' });
  await post(stack.app, { query: '{ vehicle { id } }' }, { 'apollographql-client-name': 'bad name{}', 'apollographql-client-version': 'x'.repeat(100) });
  expect(await count('fleet-ios', '2.4.1')).toBe(before + 2);
  expect(await count('invalid', 'invalid')).toBe(beforeInvalid + 1);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';
import { startPrivateRedis, type PrivateRedis } from '../../support/redis-server';

/**
 * Redis goes away under load, refusing connections and then hanging (SIGSTOP): every failed request
 * is answered SERVICE_UNAVAILABLE within a second, the process survives, the gateway recovers by
 * itself, and no token pair is lost. The Redis is private and persists to disk (AOF), as production
 * Redis would, so a restart keeps the data.
 */

const dir = mkdtempSync(join(tmpdir(), 'gw-outage-'));
const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
let redis: PrivateRedis;
let stack: Stack;
let client: Client;
let connKey: string;

interface Answer {
  ms: number;
  status: number;
  codes: string[];
}

beforeAll(async () => {
  redis = await startPrivateRedis(args);
  stack = await startStack({ redisUrl: redis.url });
  client = new Client(stack.url);
  const url = (await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl;
  const back = await completeConsent(url, { username: `outage-${Date.now()}@example.com` });
  const res = await client.gql('mutation($c: String!, $s: String) { exchangeCode(code: $c, state: $s) { vehicles { make } } }', {
    c: back.searchParams.get('code'),
    s: back.searchParams.get('state'),
  });
  expect(res.errors).toBeUndefined();
  [connKey] = (await stack.redis.keys(`${stack.prefix}sess:*:conn:*`)).filter((k) => !/:(lock|cooldown)$/.test(k));
}, 30_000);

afterAll(async () => {
  redis.process.kill('SIGCONT');
  await stack.stop();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

const QUERY = '{ vehicle { make odometer { distance } } }';

/** `workers` clients querying in a loop for `ms`; every answer timed and classified. */
async function load(ms: number, workers = 4): Promise<Answer[]> {
  const answers: Answer[] = [];
  const until = Date.now() + ms;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < until) {
        const started = Date.now();
        const res = await client.gql(QUERY).catch(() => ({ status: 0, errors: [{ extensions: { code: 'NO_ANSWER' } }] }));
        answers.push({ ms: Date.now() - started, status: res.status, codes: (res.errors ?? []).map((e) => e.extensions.code as string) });
      }
    }),
  );
  return answers;
}

async function recovered(): Promise<number> {
  const started = Date.now();
  for (;;) {
    const res = await client.gql(QUERY);
    if (!res.errors) return Date.now() - started;
    if (Date.now() - started > 15_000) throw new Error(`no recovery: ${JSON.stringify(res.errors)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function expectOutageAnswers(answers: Answer[]): void {
  const failed = answers.filter((a) => a.codes.length > 0);
  expect(failed.length).toBeGreaterThan(5);
  for (const a of failed) {
    // One error, or one per field when Redis went away between two of them.
    expect(new Set(a.codes)).toEqual(new Set(['SERVICE_UNAVAILABLE']));
    expect(a.status).toBe(503);
    expect(a.ms).toBeLessThan(1_000);
  }
}

test('Redis stopped under load: SERVICE_UNAVAILABLE within a second, then recovery with the pair intact', async () => {
  const pairBefore = await stack.redis.hget(connKey, 'pair');
  expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
  const during = load(2_500);
  await new Promise((r) => setTimeout(r, 300));
  await redis.stop();
  expect((await fetch(`${stack.url}/readyz`)).status).toBe(503);
  expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  await new Promise((r) => setTimeout(r, 1_000));
  const restarted = startPrivateRedis(args, redis.port);
  const answers = await during;
  redis = await restarted;
  expectOutageAnswers(answers);
  expect(await recovered()).toBeLessThan(10_000);
  expect(await stack.redis.hget(connKey, 'pair')).toBe(pairBefore);
  // Full service, with the stored token: a fresh read of the car.
  stack.sim.resetRequests();
  const res = await client.gql('{ vehicle { odometer(maxAge: 0) { distance } } }');
  expect(res.errors).toBeUndefined();
  expect(stack.sim.requests().filter((r) => r.kind === 'api').map((r) => r.status)).toEqual([200]);
}, 60_000);

test('Redis hanging (SIGSTOP) under load: SERVICE_UNAVAILABLE within a second, recovery on SIGCONT', async () => {
  const pairBefore = await stack.redis.hget(connKey, 'pair');
  const during = load(2_500);
  await new Promise((r) => setTimeout(r, 300));
  redis.process.kill('SIGSTOP');
  const ready = await fetch(`${stack.url}/readyz`);
  expect(ready.status).toBe(503);
  await new Promise((r) => setTimeout(r, 1_500));
  redis.process.kill('SIGCONT');
  expectOutageAnswers(await during);
  expect(await recovered()).toBeLessThan(10_000);
  expect(await stack.redis.hget(connKey, 'pair')).toBe(pairBefore);
  expect(stack.logs.some((l) => l.includes('"msg":"redis unavailable"'))).toBe(true);
}, 60_000);

test('metrics count what happened', async () => {
  const text = await (await fetch(`${stack.url}/metrics`)).text();
  expect(text).toMatch(/gateway_requests_total\{operation="query:vehicle",outcome="SERVICE_UNAVAILABLE"\} [1-9]/);
  expect(text).toMatch(/gateway_requests_total\{operation="query:vehicle",outcome="ok"\} [1-9]/);
  expect(text).toMatch(/gateway_upstream_requests_total\{path="\/odometer",status="200"\} [1-9]/);
  expect(text).toMatch(/gateway_cache_total\{result="hit"\} [1-9]/);
  expect(text).toMatch(/gateway_redis_command_seconds_count\{outcome="error"\} [1-9]/);
});

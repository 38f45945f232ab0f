import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Redis from 'ioredis';
import { startSimulator, type RunningSimulator } from '../../../src/simulator';
import { Client, gatewayEnv, testRedisUrl } from '../../support/gateway';
import { connectV3Car, v3Env } from '../../support/v3';

/**
 * Three gateway processes in v3 mode sharing one Redis and one Smartcar: the application token is
 * one for all of them, so when it expires, 50 concurrent requests across the three cost exactly one
 * token request.
 */

const ROOT = join(__dirname, '../../..');
const BUILD = join(ROOT, '.test-build', randomBytes(4).toString('hex'));

let sim: RunningSimulator;
let redis: Redis;
const prefix = `tv3m${randomBytes(4).toString('hex')}:`;
const key = randomBytes(32).toString('base64');
const children: ChildProcess[] = [];

beforeAll(async () => {
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', BUILD], { stdio: 'inherit' });
  sim = await startSimulator();
  redis = new Redis(testRedisUrl());
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sim?.stop();
  const stale = await redis.keys(`${prefix}*`);
  if (stale.length) await redis.del(...stale);
  await redis.quit();
  rmSync(BUILD, { recursive: true, force: true });
});

function startGateway(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(BUILD, 'main.js')], {
    // A loaded machine (three gateways, jest, other work) can take longer than 500 ms for one Redis command.
    env: { ...process.env, ...gatewayEnv(sim, prefix, key), ...v3Env(sim), LOG_LEVEL: 'info', REDIS_COMMAND_TIMEOUT_MS: '5000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg?.startsWith('Gateway ready')) resolve({ url: entry.url!, child });
    });
  });
}

const tokenRequests = (since: number) => sim.requests(since).filter((r) => r.kind === 'token');
const lastSeq = () => sim.requests().at(-1)?.seq ?? 0;

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

  sim.expireAppTokens();
  const since = lastSeq();
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => read(gateways[i % 3]!.url)));
  for (const r of answers) {
    expect(r.errors).toBeUndefined();
    expect(r.data!.vehicle.odometer.distance).toBeGreaterThan(0);
  }
  expect(tokenRequests(since).map((r) => `${r.path} ${r.status}`)).toEqual(['/oauth2/token 200']);
  // Each request went upstream with the old token (401) or the new one (200), and every one got its reading.
  const reads = sim.requests(since).filter((r) => r.kind === 'api' && r.vehicleId === id);
  expect(reads.filter((r) => r.status === 200)).toHaveLength(50);
  expect(reads.every((r) => r.status === 200 || r.status === 401)).toBe(true);
  expect(reads.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(3);
}, 120_000);

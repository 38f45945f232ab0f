import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Redis from 'ioredis';
import { testRedisUrl } from '../../support/gateway';

/**
 * `npm run demo`, as the README tells a newcomer without a browser or without the internet: with only
 * Redis, it connects a simulated car through the consent page over HTTP and prints the cars, a
 * dashboard and a command's result, with the GraphQL it sent. Every connection the processes attempt
 * beyond loopback throws (test/support/loopback-only.js), so reaching for a CDN would fail it.
 */

const ROOT = join(__dirname, '../../..');
const prefix = `td${randomBytes(4).toString('hex')}:`;

afterAll(async () => {
  const redis = new Redis(testRedisUrl());
  const stale = await redis.keys(`${prefix}*`);
  if (stale.length) await redis.del(...stale);
  await redis.quit();
});

test('npm run demo: the car, a dashboard and a command, offline, with the GraphQL it sent', async () => {
  const child = spawn('npm', ['run', 'demo', '--silent'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: prefix,
      NODE_OPTIONS: `--require ${join(ROOT, 'test/support/loopback-only.js')}`,
      npm_config_update_notifier: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });

  // Connect, through the consent page, over HTTP.
  expect(stdout).toContain('query { connectUrl }');
  expect(stdout).toContain('200: "Local development app would like to: …"');
  expect(stdout).toMatch(/POST \/oauth\/authorize {3}302 → http:\/\/localhost:\d+\/exchange\?code=…&state=…/);
  expect(stdout).toMatch(/GET {2}\/exchange\?code=…&state=… {3}302 → \/vehicle/);
  // The session's cars (family@example.com), as a table.
  expect(stdout).toContain('query { session { connected } vehicles { id make model year } }');
  expect(stdout).toMatch(/make {4}model {7}year {2}id\n/);
  expect(stdout).toMatch(/FORD {4}F-150 {7}2019 {2}[0-9a-f-]{36}\n/);
  expect(stdout).toMatch(/NISSAN {2}Leaf {8}2020 {2}[0-9a-f-]{36}\n/);
  // The dashboard: readings of all three cars; the fuel car has no battery, the EV no fuel.
  expect(stdout).toContain('battery { percentRemaining range } fuel { percentRemaining range } lockStatus { isLocked }');
  expect(stdout).toMatch(/FORD F-150 +[\d,]+ km +— +\d+ % · [\d,]+ km +locked\n/);
  expect(stdout).toMatch(/NISSAN Leaf +[\d,]+ km +\d+ % · [\d,]+ km +— +locked\n/);
  expect(stdout).toContain('"—": 2 fields are null with COMPATIBILITY');
  // The command and its effect.
  expect(stdout).toContain('mutation Unlock($id: ID!) { unlockVehicle(id: $id) { status message } }');
  expect(stdout).toMatch(/success +Successfully sent request to vehicle\n/);
  expect(stdout).toContain('→ lockStatus.isLocked: false');
  expect(stdout).toContain('→ signOut: true');

  // Signed out: no session is left behind (rate-limit counters expire by themselves).
  const redis = new Redis(testRedisUrl());
  try {
    expect((await redis.keys(`${prefix}*`)).filter((k) => !k.startsWith(`${prefix}rl:`))).toEqual([]);
  } finally {
    await redis.quit();
  }
}, 120_000);

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Redis from 'ioredis';
import { testRedisUrl } from '../../support/gateway';
import { freePort } from '../../support/redis-server';

/**
 * The first minute of a newcomer: the built process (`node dist/main.js`, built by the globalSetup)
 * started as a person would, with what goes wrong at start said in one line and exit code 1, the
 * banner a browser can follow, and `npm start` stopping when its own PID is sent SIGTERM.
 */

const ROOT = join(__dirname, '../../..');
const prefix = `tu${randomBytes(4).toString('hex')}:`;
const children: ChildProcess[] = [];

afterAll(async () => {
  // Whatever a failed test left running (detached: its own process group, npm's children included).
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // ESRCH: the whole group is gone already
    }
  }
  const redis = new Redis(testRedisUrl());
  const stale = await redis.keys(`${prefix}*`);
  if (stale.length) await redis.del(...stale);
  await redis.quit();
});

/** Only what a person's shell would have: no jest NODE_ENV, no Smartcar variables of the developer's. */
function envOf(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: prefix, ...extra };
}

function start(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, { cwd: ROOT, env: envOf(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  const stdout: string[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (l) => stdout.push(l));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // 'exit', not 'close': a process left behind by the one that exited would hold the pipes open.
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const closed = once(child, 'close'); // all of its output read
  return { child, stdout, stderr: () => stderr, exited, closed };
}

/** Runs the built gateway to its end (a start-up failure ends it within seconds). */
async function failedStart(env: Record<string, string>) {
  const run = start(process.execPath, ['dist/main.js'], env);
  const { code } = await run.exited;
  await run.closed;
  return { code, stderrLines: run.stderr().split('\n').filter(Boolean), stdout: run.stdout };
}

async function waitForLine(lines: string[], pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = lines.find((l) => pattern.test(l));
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no line matching ${pattern} in:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });

test('PORT=abc: one line naming PORT and what it accepts, exit 1', async () => {
  const run = await failedStart({ PORT: 'abc' });
  expect(run.code).toBe(1);
  expect(run.stderrLines).toEqual(['Invalid configuration: PORT: must be a whole number from 0 to 65535, got "abc"']);
  expect(run.stdout).toEqual([]);
}, 30_000);

test('Redis unreachable: one line with the cause (ECONNREFUSED) and REDIS_URL, no JSON warning, exit 1', async () => {
  const port = await freePort(); // nothing listens there
  const run = await failedStart({ REDIS_URL: `redis://127.0.0.1:${port}` });
  expect(run.code).toBe(1);
  expect(run.stderrLines).toEqual([
    `Cannot reach Redis at redis://127.0.0.1:${port} (REDIS_URL): connect ECONNREFUSED 127.0.0.1:${port}. Start Redis there, or set REDIS_URL to where it runs.`,
  ]);
  expect(run.stdout).toEqual([]);
}, 30_000);

test('port in use: one line naming the address and PORT, no stack trace, exit 1', async () => {
  const busy: Server = createServer();
  busy.listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const port = (busy.address() as { port: number }).port;
  try {
    const run = await failedStart({ PORT: String(port) });
    expect(run.code).toBe(1);
    expect(run.stderrLines).toEqual([
      `Cannot start the gateway on 127.0.0.1:${port}: the port is in use (another gateway?). Stop what listens there, or set PORT to a free port.`,
    ]);
    expect(run.stdout).toEqual([]);
  } finally {
    busy.close();
  }
}, 30_000);

test('in a container (HOST=0.0.0.0) the banner gives a URL a browser opens; LOG_FORMAT=pretty prints it plainly', async () => {
  const port = await freePort();
  const run = start(process.execPath, ['dist/main.js'], { HOST: '0.0.0.0', PORT: String(port), LOG_FORMAT: 'pretty' });
  await waitForLine(run.stdout, /Connect a car: /);
  expect(run.stdout.some((l) => l.startsWith('{'))).toBe(false);
  expect(await waitForLine(run.stdout, /Apollo Sandbox: /)).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d INFO  Gateway ready\\. Apollo Sandbox: http://localhost:${port}/graphql url=http://0\\.0\\.0\\.0:${port}$`));
  expect(await waitForLine(run.stdout, /Connect a car: /)).toMatch(new RegExp(`INFO {2}Connect a car: http://localhost:${port}/connect `));
  expect(run.stdout.some((l) => l.includes('npm run demo'))).toBe(true);
  run.child.kill('SIGTERM');
  expect((await run.exited).code).toBe(0);
}, 60_000);

test("npm start's own PID stops the gateway: SIGTERM to npm reaches node, which drains and frees the port", async () => {
  const port = await freePort();
  const run = start('npm', ['start'], { PORT: String(port), NODE_ENV: 'development' });
  await waitForLine(run.stdout, /"msg":"Connect a car: /, 90_000);
  expect(await refused(port)).toBe(false);
  process.kill(run.child.pid!, 'SIGTERM'); // npm's PID only, as `kill <pid>` or a process manager would
  expect(await run.exited).toEqual({ code: 0, signal: null });
  expect(await refused(port)).toBe(true);
  await waitForLine(run.stdout, /"msg":"stopping"/, 5_000);
}, 120_000);

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Redis from 'ioredis';
import { startStack } from '../../support/gateway';
import { chromium, type Browser } from 'playwright-core';
import { freePort } from '../../support/redis-server';
import { testRedisUrl } from '../../support/gateway';

/**
 * What a person does on first contact: `npm start` with no credentials, open the Connect link it logs,
 * sign in on the simulator's consent page, allow, and land on /vehicle showing the car.
 * Needs Debian's chromium (.ci/run installs it).
 */

const CHROMIUM = '/usr/bin/chromium';
const maybe = existsSync(CHROMIUM) ? test : test.skip;
if (!existsSync(CHROMIUM)) console.warn(`browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

let gateway: ChildProcess | null = null;
let browser: Browser | null = null;
const prefix = `tb${randomBytes(4).toString('hex')}:`;

afterAll(async () => {
  await browser?.close();
  if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
  const redis = new Redis(testRedisUrl());
  const stale = await redis.keys(`${prefix}*`);
  if (stale.length) await redis.del(...stale);
  await redis.quit();
});

/** Starts `npm start` and resolves with the Connect link it logs. */
async function npmStart(port: number): Promise<{ connectLink: string; sandbox: string; lines: string[] }> {
  const child = spawn('npm', ['start', '--silent'], {
    cwd: join(__dirname, '../../..'),
    env: { ...process.env, PORT: String(port), REDIS_URL: testRedisUrl(), REDIS_KEY_PREFIX: prefix, NODE_ENV: 'development', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so npm and node stop together
  });
  gateway = child;
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    let sandbox = '';
    child.once('exit', (code) => reject(new Error(`npm start exited ${code}: ${stderr}\n${lines.join('\n')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const msg = (JSON.parse(line) as { msg?: string }).msg ?? '';
      if (msg.startsWith('Gateway ready. Apollo Sandbox: ')) sandbox = msg.slice('Gateway ready. Apollo Sandbox: '.length);
      if (msg.startsWith('Connect a car: ')) resolve({ connectLink: msg.slice('Connect a car: '.length), sandbox, lines });
    });
  });
}

maybe(
  'npm start → the logged Connect link (/connect) → consent page → /exchange → /vehicle shows the car',
  async () => {
    const port = await freePort();
    const started = await npmStart(port);
    expect(started.sandbox).toBe(`http://localhost:${port}/graphql`);
    // The gateway's own route: it binds a state to the browser's session, so the landing on /exchange is accepted.
    expect(started.connectLink).toBe(`http://localhost:${port}/connect`);
    expect(started.lines.some((l) => l.includes('built-in Smartcar simulator'))).toBe(true);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    await page.goto(started.connectLink);
    expect(await page.locator('#permissions').innerText()).toContain('Know make, model, and year');
    await page.fill('input[name=username]', 'driver@example.com');
    await page.fill('input[name=password]', 'hunter2');
    await Promise.all([page.waitForURL(`http://localhost:${port}/vehicle`), page.click('button[value=approve]')]);
    const shown = JSON.parse((await page.locator('body').innerText()).trim()) as Record<string, unknown>;
    expect(shown).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), make: 'TESLA', model: 'Model 3', year: 2021 });
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'sid')).toMatchObject({ httpOnly: true, sameSite: 'Lax', domain: 'localhost' });

    // The Sandbox landing page is served on GET /graphql outside production.
    const landing = await fetch(`http://127.0.0.1:${port}/graphql`, { headers: { accept: 'text/html' } });
    expect(landing.status).toBe(200);
    expect(await landing.text()).toContain('embeddable-sandbox');

    // SIGTERM (to npm and node alike) stops the gateway cleanly.
    const exited = new Promise<string>((resolve) => gateway!.once('close', (code, signal) => resolve(`${code}/${signal}`)));
    process.kill(-gateway!.pid!, 'SIGTERM');
    expect(['0/null', 'null/SIGTERM']).toContain(await exited);
    await new Promise((r) => setTimeout(r, 200));
    expect(started.lines.some((l) => l.includes('"msg":"stopping"'))).toBe(true);
    expect(started.lines.some((l) => l.includes('stop failed'))).toBe(false);
  },
  120_000,
);

maybe(
  'the consent page names the app, and pressing Enter in the password field approves (as on Smartcar)',
  async () => {
    const port = await freePort();
    const stack = await startStack({ env: { PORT: String(port), SMARTCAR_REDIRECT_URI: `http://localhost:${port}/exchange` } });
    try {
      browser ??= await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = await browser.newPage();
      await page.goto(stack.app.connectLink);
      expect(await page.locator('#app-name').innerText()).toBe('Local development app');
      await page.fill('input[name=username]', 'family@example.com');
      await page.fill('input[name=password]', 'hunter2');
      // Enter submits with the form's default button, its first submit button: it must be Allow.
      await Promise.all([page.waitForURL(`http://localhost:${port}/vehicle`, { timeout: 15_000 }), page.press('input[name=password]', 'Enter')]);
      const shown = JSON.parse((await page.locator('body').innerText()).trim()) as Record<string, unknown>;
      expect(shown).toMatchObject({ make: 'FORD', model: 'F-150', year: 2019 });
      expect(stack.sim.requests().filter((r) => r.kind === 'token').map((r) => r.status)).toEqual([200]);
      await page.close();
    } finally {
      await stack.stop();
    }
  },
  60_000,
);

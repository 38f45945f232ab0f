import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Redis from 'ioredis';
import { startSimulator, type RunningSimulator } from '../../src/simulator';
import { testRedisUrl } from './gateway';

/**
 * Gateway processes for multi-process tests (real child processes, the way users scale the
 * gateway): the build is compiled once (before any server runs: it blocks), each process resolves
 * once it logged that it is ready, and `stop()` kills what is left and removes the build.
 */

const ROOT = join(__dirname, '../..');

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
}

export class GatewayProcesses {
  readonly children: ChildProcess[] = [];
  private readonly build = join(ROOT, '.test-build', randomBytes(4).toString('hex'));

  compile(): void {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', this.build], { stdio: 'inherit' });
  }

  start(env: Record<string, string>): Promise<GatewayProcess> {
    const child = spawn(process.execPath, [join(this.build, 'main.js')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
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

  stop(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(this.build, { recursive: true, force: true });
  }
}

/**
 * The set-up of a multi-process test file: one simulator, the test Redis (its keys under a prefix of
 * this file, removed at the end), one encryption key, and the processes, compiled before any server
 * runs. Read the fields inside tests (they are set in beforeAll).
 */
export interface ProcessStack {
  sim: RunningSimulator;
  redis: Redis;
  prefix: string;
  key: string;
  processes: GatewayProcesses;
}

export function processStack(tag: string): ProcessStack {
  const stack = { prefix: `${tag}${randomBytes(4).toString('hex')}:`, key: randomBytes(32).toString('base64'), processes: new GatewayProcesses() } as ProcessStack;
  beforeAll(async () => {
    stack.processes.compile();
    stack.sim = await startSimulator();
    stack.redis = new Redis(testRedisUrl());
  }, 120_000);
  afterAll(async () => {
    stack.processes.stop();
    await stack.sim?.stop();
    const stale = await stack.redis.keys(`${stack.prefix}*`);
    if (stale.length) await stack.redis.del(...stale);
    await stack.redis.quit();
  });
  return stack;
}

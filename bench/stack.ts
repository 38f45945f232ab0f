import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, isRunning, stopChild, track } from './procs';
import type { SimCommand, UpstreamCounts } from './sim-process';

/**
 * The processes under test: the simulator (own process, IPC-controlled), the gateway exactly as in
 * production (`node dist/main.js`, NODE_ENV=production, LOG_LEVEL=warn), and the baseline server.
 */

export const BENCH_DIR = __dirname; // .bench-build/bench
export const REDIRECT_URI = 'http://localhost:8000/exchange';

export interface SimProcess {
  origin: string;
  clientId: string;
  clientSecret: string;
  pid: number;
  call<T>(command: SimCommand): Promise<T>;
  counts(reset?: boolean): Promise<UpstreamCounts>;
  stop(): Promise<void>;
}

export async function startSim(dist: string, latencyMs: number): Promise<SimProcess> {
  const child = track(
    spawn(process.execPath, [join(BENCH_DIR, 'sim-process.js')], {
      env: { PATH: process.env.PATH ?? '', BENCH_DIST: dist, BENCH_SIM_LATENCY_MS: String(latencyMs), NODE_ENV: 'production' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  const ready = new Promise<{ origin: string; client: { clientId: string; clientSecret: string } }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`simulator process exited (${code})`)));
    child.on('message', (raw: unknown) => {
      const m = raw as { ready?: boolean; origin: string; client: { clientId: string; clientSecret: string }; id?: number; result?: unknown; error?: string };
      if (m.ready) return resolve(m);
      const p = m.id === undefined ? undefined : pending.get(m.id);
      if (!p) return;
      pending.delete(m.id!);
      if (m.error) p.reject(new Error(m.error));
      else p.resolve(m.result);
    });
  });
  const info = await Promise.race([ready, sleep(15_000).then(() => Promise.reject(new Error('simulator did not start in 15 s')))]);
  const call = <T>(command: SimCommand): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (!isRunning(child)) return reject(new Error('simulator process is gone'));
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`simulator did not answer ${command.cmd} in 15 s`));
      }, 15_000);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.send({ id, ...command });
    });
  return {
    origin: info.origin,
    clientId: info.client.clientId,
    clientSecret: info.client.clientSecret,
    pid: child.pid!,
    call,
    counts: (reset = true) => call<UpstreamCounts>({ cmd: 'counts', reset }),
    stop: async () => {
      if (child.connected) child.disconnect();
      await stopChild(child);
    },
  };
}

export interface ServerProcess {
  name: string;
  kind: 'gateway' | 'baseline' | 'ceiling';
  url: string;
  pid: number;
  child: ChildProcess;
  /** Log lines at warn or above (the gateway logs JSON on stdout), the last 50. */
  logs: string[];
  warnCount(): number;
  stop(): Promise<void>;
}

/** Polls until the server answers `probe` with 200, or fails (exited, or 20 s). Returns ms waited. */
async function waitReady(child: ChildProcess, probe: () => Promise<boolean>, started: number, what: string, stderr: () => string): Promise<number> {
  const deadline = started + 20_000;
  for (;;) {
    if (!isRunning(child)) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before answering: ${stderr().slice(0, 800)}`);
    try {
      if (await probe()) return performance.now() - started;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${what} did not answer within 20 s: ${stderr().slice(0, 800)}`);
    await sleep(5);
  }
}

function collect(child: ChildProcess): { logs: string[]; warns: () => number; stderr: () => string } {
  const logs: string[] = [];
  let warns = 0;
  let err = '';
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      warns++;
      logs.push(line.slice(0, 600));
      if (logs.length > 50) logs.shift();
    });
  }
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  return { logs, warns: () => warns, stderr: () => err };
}

export interface GatewayOptions {
  dist: string;
  redisUrl: string;
  prefix: string;
  /** base64 of 32 bytes; shared by gateways that share a prefix. */
  tokenKey: string;
  sim: SimProcess;
  name?: string;
  nodeArgs?: string[];
  env?: Record<string, string>;
}

/** Ready when `POST /graphql { __typename }` answers 200 (the gateway, the ceiling server). */
const answersTypename = (url: string) => async () => {
  const body = JSON.stringify({ query: '{ __typename }' });
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.status === 200;
};

export const newTokenKey = () => randomBytes(32).toString('base64');

/** `node dist/main.js` as in production. Resolves when it answers `{ __typename }` (cold start). */
export async function startGateway(o: GatewayOptions): Promise<ServerProcess & { coldStartMs: number }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: o.redisUrl,
    REDIS_KEY_PREFIX: o.prefix,
    SMARTCAR_CLIENT_ID: o.sim.clientId,
    SMARTCAR_CLIENT_SECRET: o.sim.clientSecret,
    SMARTCAR_AUTH_ORIGIN: o.sim.origin,
    SMARTCAR_API_ORIGIN: o.sim.origin,
    SMARTCAR_MANAGEMENT_API_ORIGIN: o.sim.origin,
    SMARTCAR_REDIRECT_URI: REDIRECT_URI,
    TOKEN_ENCRYPTION_KEY: o.tokenKey,
    LOG_LEVEL: 'warn',
    TOKEN_SWEEP_INTERVAL_SEC: '0',
    // One load generator on one address and one session would hit the per-IP and per-session limits
    // at once; run.ts measures the limiter's own cost separately, with the limits raised.
    RATE_LIMIT_IP_PER_MIN: '0',
    RATE_LIMIT_SESSION_PER_MIN: '0',
    ...o.env,
  };
  const started = performance.now();
  const child = track(spawn(process.execPath, [...(o.nodeArgs ?? []), join(o.dist, 'main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const out = collect(child);
  const coldStartMs = await waitReady(child, answersTypename(url), started, `gateway ${o.name ?? ''}`, out.stderr);
  return { name: o.name ?? 'gateway', kind: 'gateway', url, pid: child.pid!, child, logs: out.logs, warnCount: out.warns, coldStartMs, stop: () => stopChild(child) };
}

export async function startBaseline(sim: SimProcess): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = track(
    spawn(process.execPath, [join(BENCH_DIR, 'baseline-server.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'production',
        PORT: String(port),
        HOST: '127.0.0.1',
        SMARTCAR_CLIENT_ID: sim.clientId,
        SMARTCAR_CLIENT_SECRET: sim.clientSecret,
        SMARTCAR_AUTH_ORIGIN: sim.origin,
        SMARTCAR_API_ORIGIN: sim.origin,
        SMARTCAR_MANAGEMENT_API_ORIGIN: sim.origin,
        SMARTCAR_REDIRECT_URI: REDIRECT_URI,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const out = collect(child);
  await waitReady(
    child,
    async () => {
      const res = await fetch(`${url}/login`, { redirect: 'manual', signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return res.status === 302;
    },
    started,
    'baseline',
    out.stderr,
  );
  return { name: 'baseline', kind: 'baseline', url, pid: child.pid!, child, logs: out.logs, warnCount: () => 0, stop: () => stopChild(child) };
}

/** The ceiling row's server (bench/ceiling-server.ts): a bare ApolloServer on node:http, a fixed vehicle. */
export async function startCeiling(): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = track(
    spawn(process.execPath, [join(BENCH_DIR, 'ceiling-server.js')], {
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const out = collect(child);
  await waitReady(child, answersTypename(url), started, 'ceiling', out.stderr);
  return { name: 'ceiling', kind: 'ceiling', url, pid: child.pid!, child, logs: out.logs, warnCount: () => 0, stop: () => stopChild(child) };
}

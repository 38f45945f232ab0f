import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import Redis from 'ioredis';
import { createApp, type AppDeps, type RunningApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator';

/**
 * A whole stack for an integration test: the simulator, the gateway on port 0 talking to it through
 * the real SDK, the test Redis under a key prefix of its own (removed at the end), and the gateway's
 * log lines captured so tests can scan them.
 */

export interface Stack {
  sim: RunningSimulator;
  app: RunningApp;
  url: string;
  /** A client on the test Redis, without key prefix. */
  redis: Redis;
  prefix: string;
  /** TOKEN_ENCRYPTION_KEY of the stack (base64). */
  tokenKey: string;
  logs: string[];
  /** Another gateway on the same simulator and Redis prefix, with extra environment (and dependencies). */
  another(env?: Record<string, string>, deps?: Omit<AppDeps, 'logger'>): Promise<RunningApp>;
  stop(): Promise<void>;
}

export function testRedisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  if (!url) throw new Error('TEST_REDIS_URL is not set: integration tests run under jest globalSetup');
  return url;
}

/** The environment of a gateway talking to `sim` with the real SDK, on the test Redis under `prefix`. */
export function gatewayEnv(sim: RunningSimulator, prefix: string, tokenKey: string): Record<string, string> {
  return {
    ...sim.env,
    NODE_ENV: 'test',
    PORT: '0',
    REDIS_URL: testRedisUrl(),
    REDIS_KEY_PREFIX: prefix,
    TOKEN_ENCRYPTION_KEY: tokenKey,
    SMARTCAR_REDIRECT_URI: 'http://localhost:8000/exchange',
    TOKEN_SWEEP_INTERVAL_SEC: '0',
    // Tests send many requests from one address; the limit tests turn these on themselves.
    RATE_LIMIT_IP_PER_MIN: '0',
    RATE_LIMIT_SESSION_PER_MIN: '0',
  };
}

/** `env` may depend on the simulator (its v3 credentials: `(sim) => sim.v3Env`). */
export async function startStack(
  options: { env?: Record<string, string> | ((sim: RunningSimulator) => Record<string, string>); simulator?: SimulatorOptions; redisUrl?: string } = {},
): Promise<Stack> {
  const sim = await startSimulator(options.simulator);
  const prefix = `t${randomBytes(6).toString('hex')}:`;
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const key = randomBytes(32).toString('base64');
  const redisUrl = options.redisUrl ?? testRedisUrl();
  const baseEnv = { ...gatewayEnv(sim, prefix, key), REDIS_URL: redisUrl, LOG_LEVEL: 'debug' };
  const stackEnv = typeof options.env === 'function' ? options.env(sim) : options.env;
  const launch = (env: Record<string, string> = {}, deps: Omit<AppDeps, 'logger'> = {}) => {
    const config = loadConfig({ ...baseEnv, ...stackEnv, ...env });
    return createApp(config, { ...deps, logger: createLogger(config.logLevel, sink) });
  };
  const app = await launch();
  const extra: RunningApp[] = [];
  const redis = new Redis(redisUrl);
  redis.on('error', () => undefined); // outage tests stop this Redis on purpose
  return {
    sim,
    app,
    url: app.url,
    redis,
    prefix,
    tokenKey: key,
    logs,
    another: async (env, deps) => {
      const a = await launch(env, deps);
      extra.push(a);
      return a;
    },
    stop: async () => {
      for (const a of [app, ...extra]) await a.stop();
      await sim.stop();
      const stale = await redis.keys(`${prefix}*`);
      if (stale.length) await redis.del(...stale);
      await redis.quit();
    },
  };
}

interface GqlResult<T = Record<string, unknown>> {
  status: number;
  data: T | null;
  errors: { message: string; path?: (string | number)[]; extensions: Record<string, unknown> & { code: string } }[] | undefined;
  headers: Headers;
  raw: string;
}

/** An HTTP client with a cookie jar (one cookie name is enough here) and an optional bearer token. */
export class Client {
  cookies = new Map<string, string>();
  bearer: string | null = null;

  constructor(readonly base: string) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.bearer) h.authorization = `Bearer ${this.bearer}`;
    return h;
  }

  private keep(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  }

  async gql<T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}): Promise<GqlResult<T>> {
    const res = await fetch(`${this.base}/graphql`, {
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ query, variables }),
    });
    this.keep(res);
    const raw = await res.text();
    const body = JSON.parse(raw) as { data?: T | null; errors?: GqlResult['errors'] };
    return { status: res.status, data: body.data ?? null, errors: body.errors, headers: res.headers, raw };
  }

  async get(path: string, extra: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: string }> {
    const res = await fetch(new URL(path, this.base), { headers: this.headers(extra), redirect: 'manual' });
    this.keep(res);
    return { status: res.status, headers: res.headers, body: await res.text() };
  }
}

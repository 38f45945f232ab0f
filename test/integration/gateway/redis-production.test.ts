import { randomBytes } from 'node:crypto';
import { createApp } from '../../../src/app';
import { loadConfig } from '../../../src/config';
import { StartupError } from '../../../src/errors';
import { createLogger } from '../../../src/logger';
import { startSimulator, type RunningSimulator } from '../../../src/simulator';
import { gatewayEnv, startStack } from '../../support/gateway';
import { hasRedisServer, startPrivateRedis, type PrivateRedis } from '../../support/redis-server';

/**
 * A Redis that may evict keys loses token pairs when it is full (every key has a TTL, so volatile-*
 * policies evict them too): the gateway checks maxmemory-policy at start. Private redis-servers,
 * one started with an evicting policy and one that refuses CONFIG, as managed services do.
 */

const maybe = hasRedisServer() ? describe : describe.skip;
if (!hasRedisServer()) console.warn('maxmemory-policy tests skipped: redis-server not installed');

maybe('maxmemory-policy at start', () => {
  let evicting: PrivateRedis;
  let noConfig: PrivateRedis;
  let sim: RunningSimulator;

  beforeAll(async () => {
    [evicting, noConfig, sim] = await Promise.all([
      startPrivateRedis(['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']),
      startPrivateRedis(['--rename-command', 'CONFIG', '']),
      startSimulator(),
    ]);
  });
  afterAll(async () => {
    await sim?.stop();
    await evicting?.stop();
    await noConfig?.stop();
  });

  const config = (redisUrl: string, env: Record<string, string> = {}) =>
    loadConfig({ ...gatewayEnv(sim, `tp${randomBytes(3).toString('hex')}:`, randomBytes(32).toString('base64')), REDIS_URL: redisUrl, LOG_LEVEL: 'silent', ...env });

  test('production refuses to start on an evicting Redis, in one line naming the policy and the way out', async () => {
    const started = createApp(config(evicting.url, { NODE_ENV: 'production', COOKIE_SECURE: 'false' }), { logger: createLogger('silent') });
    await expect(started).rejects.toThrow(StartupError);
    await expect(started).rejects.toThrow(/^Redis maxmemory-policy is allkeys-lru: .*token pairs.*noeviction.*REDIS_ALLOW_EVICTION=true[^\n]*$/);
  });

  test('REDIS_ALLOW_EVICTION=true: production starts on it, without the warning', async () => {
    const stack = await startStack({ redisUrl: evicting.url, env: { NODE_ENV: 'production', COOKIE_SECURE: 'false', REDIS_ALLOW_EVICTION: 'true' } });
    try {
      const res = await fetch(`${stack.url}/readyz`);
      expect(res.status).toBe(200);
      expect(stack.logs.filter((l) => l.includes('maxmemory-policy'))).toEqual([]);
    } finally {
      await stack.stop();
    }
  });

  test('outside production: starts, with a warning', async () => {
    const stack = await startStack({ redisUrl: evicting.url });
    try {
      const warnings = stack.logs.map((l) => JSON.parse(l) as { level: number; msg: string; maxmemoryPolicy?: string[] }).filter((l) => l.msg.includes('maxmemory-policy'));
      expect(warnings).toEqual([expect.objectContaining({ level: 40, maxmemoryPolicy: ['allkeys-lru'] })]);
      expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
    } finally {
      await stack.stop();
    }
  });

  test('a Redis that refuses CONFIG: production starts, with a warning', async () => {
    const stack = await startStack({ redisUrl: noConfig.url, env: { NODE_ENV: 'production', COOKIE_SECURE: 'false' } });
    try {
      const warnings = stack.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.msg.includes('maxmemory-policy'));
      expect(warnings).toEqual([expect.objectContaining({ level: 40, msg: expect.stringMatching(/cannot read Redis maxmemory-policy/) })]);
      expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
    } finally {
      await stack.stop();
    }
  });

  test('noeviction (the test Redis): no warning', async () => {
    const stack = await startStack({ env: { NODE_ENV: 'production', COOKIE_SECURE: 'false' } });
    try {
      expect(stack.logs.filter((l) => l.includes('maxmemory-policy'))).toEqual([]);
    } finally {
      await stack.stop();
    }
  });
});

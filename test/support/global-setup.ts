import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { hasRedisServer, startPrivateRedis } from './redis-server';

/**
 * Integration tests get a Redis that belongs to them: a private redis-server on a free port when the
 * binary exists, otherwise TEST_REDIS_URL (e.g. the compose Redis). Never the developer's own Redis.
 */
export default async function globalSetup(): Promise<void> {
  // Tests that run the built gateway (node dist/main.js, npm start, npm run demo) share this one build;
  // their own `npm run build` then finds nothing to do and writes nothing (tsconfig.build.json).
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: join(__dirname, '../..'), stdio: 'inherit' });
  if (hasRedisServer()) {
    const redis = await startPrivateRedis();
    process.env.TEST_REDIS_URL = redis.url;
    (globalThis as { __privateRedis?: typeof redis }).__privateRedis = redis;
    console.log(`\n[test] private redis-server started at ${redis.url}`);
  } else if (process.env.TEST_REDIS_URL) {
    console.log(`\n[test] redis-server not installed; using TEST_REDIS_URL=${process.env.TEST_REDIS_URL}`);
  } else {
    throw new Error(
      'Integration tests need Redis: install redis-server (apt-get install redis-server) or set TEST_REDIS_URL ' +
        '(for instance `docker compose up -d test-redis` and TEST_REDIS_URL=redis://127.0.0.1:6380).',
    );
  }
}

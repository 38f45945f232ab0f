import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { testRedisUrl } from './gateway';

/**
 * A keyspace of this test file's own on the test Redis: clients under a random prefix (`tag` + hex),
 * connected before the tests and, after them, the prefix's keys deleted and every client closed.
 * Call at the top level of a test file.
 */
export function privateKeyspace(tag: string): { prefix: string; redis: () => Redis; client: (prefix?: string) => Redis } {
  const prefix = `${tag}${randomBytes(4).toString('hex')}:`;
  const clients: Redis[] = [];
  const client = (p = prefix) => {
    const r = new Redis(testRedisUrl(), { keyPrefix: p, maxRetriesPerRequest: 1 });
    clients.push(r);
    return r;
  };
  let main: Redis | null = null;
  afterAll(async () => {
    const cleaner = main ?? client();
    const left = await cleaner.keys(`${prefix}*`);
    if (left.length) await cleaner.del(...left.map((k) => k.slice(prefix.length)));
    for (const c of clients) c.disconnect();
  });
  return { prefix, redis: () => (main ??= client()), client };
}

import Redis, { Cluster } from 'ioredis';
import { createRedis, type RedisSettings } from '../../../src/redis';

/** What createRedis hands ioredis (lazy: nothing connects). TLS itself needs a TLS-built Redis. */

const base: RedisSettings = { url: 'redis://127.0.0.1:6379', keyPrefix: 'gw:', commandTimeoutMs: 500, clusterNodes: null, sentinel: null };

test('cluster: the credentials and TLS of REDIS_URL reach every node', () => {
  const c = createRedis({ ...base, url: 'rediss://app:p%40ss@ignored:1', clusterNodes: [{ host: 'redis-0.internal', port: 6379 }] }) as Cluster;
  expect(c).toBeInstanceOf(Cluster);
  expect(c.options.redisOptions).toMatchObject({ username: 'app', password: 'p@ss', tls: {} });
  // Connect by name, so the certificate is checked against the name given.
  expect(c.options.dnsLookup).toBeDefined();
  c.disconnect();
});

test('cluster over redis:// without credentials: no auth, no TLS', () => {
  const c = createRedis({ ...base, clusterNodes: [{ host: '127.0.0.1', port: 7000 }] }) as Cluster;
  expect(c.options.redisOptions).not.toHaveProperty('password');
  expect(c.options.redisOptions).not.toHaveProperty('tls');
  c.disconnect();
});

test('sentinel: rediss:// is TLS to the master, replicas and sentinels; the sentinels have their own credentials', () => {
  const r = createRedis({ ...base, url: 'rediss://:data-pass@ignored:1', sentinel: { sentinels: [{ host: 's1', port: 26379 }], name: 'main', username: 'sentinel-user', password: 'sentinel-pass' } });
  expect(r.options).toMatchObject({
    name: 'main',
    password: 'data-pass',
    sentinelUsername: 'sentinel-user',
    sentinelPassword: 'sentinel-pass',
    tls: {},
    enableTLSForSentinelMode: true,
    sentinelTLS: {},
  });
  r.disconnect();
});

test('sentinel over redis:// without sentinel credentials', () => {
  const r = createRedis({ ...base, sentinel: { sentinels: [{ host: 's1', port: 26379 }], name: 'main', username: null, password: null } }) as Redis;
  expect(r.options).not.toHaveProperty('sentinelPassword');
  expect(r.options.tls).toBeUndefined();
  expect(r.options.enableTLSForSentinelMode).toBeFalsy();
  r.disconnect();
});

import { randomBytes } from 'node:crypto';
import { ConfigError, DEFAULT_SCOPE, loadConfig } from '../../../src/config';

const key = randomBytes(32).toString('base64');

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

test('no variables at all: simulator mode with a generated key and the documented defaults', () => {
  const c = loadConfig({});
  expect(c.smartcar.credentials).toBeNull();
  expect(c.tokenKey.generated).toBe(true);
  expect(c.tokenKey.key).toHaveLength(32);
  expect(c.port).toBe(8000);
  expect(c.host).toBe('127.0.0.1');
  expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', keyPrefix: 'gw:', commandTimeoutMs: 500, clusterNodes: null, sentinel: null });
  expect(c.limits).toEqual({
    maxDepth: 10,
    maxAliases: 30,
    maxTokens: 2000,
    maxCost: 5000,
    maxReadingsPerRequest: 100,
    ratePerMinuteByIp: 600,
    ratePerMinuteBySession: 300,
    trustProxy: false,
  });
  expect(c.smartcar.mode).toBe('test');
  expect(c.smartcar.requireState).toBe(false);
  expect(c.smartcar.scope).toEqual(DEFAULT_SCOPE);
  expect(c.smartcar.redirectUri).toBeNull();
  expect(c.session.cookieSecure).toBe(false);
});

test('credentials mode takes everything from the environment', () => {
  const c = loadConfig({
    SMARTCAR_CLIENT_ID: 'id',
    SMARTCAR_CLIENT_SECRET: 'secret',
    SMARTCAR_REDIRECT_URI: 'scid://exchange',
    SMARTCAR_MODE: 'live',
    SMARTCAR_REQUIRE_STATE: 'true',
    SMARTCAR_AUTH_ORIGIN: 'http://127.0.0.1:9000',
    TOKEN_ENCRYPTION_KEY: key,
    NODE_ENV: 'production',
    PORT: '9001',
    SMARTCAR_SCOPE: 'read_vehicle_info read_odometer',
  });
  expect(c.smartcar.credentials).toEqual({ clientId: 'id', clientSecret: 'secret' });
  expect(c.smartcar).toMatchObject({ redirectUri: 'scid://exchange', mode: 'live', requireState: true, scope: ['read_vehicle_info', 'read_odometer'] });
  expect(c.smartcar.origins).toEqual({ auth: 'http://127.0.0.1:9000', api: null, management: null });
  expect(c.tokenKey).toEqual({ key: Buffer.from(key, 'base64'), generated: false });
  expect(c.session.cookieSecure).toBe(true);
  expect(c.port).toBe(9001);
});

test('every problem is listed at once', () => {
  expect(
    problems({
      PORT: 'eighty',
      REDIS_URL: 'http://nope',
      SMARTCAR_CLIENT_ID: 'only-the-id',
      SMARTCAR_MODE: 'production',
      SMARTCAR_REQUIRE_STATE: 'yes',
      SMARTCAR_API_ORIGIN: 'http://127.0.0.1:9/',
      TOKEN_ENCRYPTION_KEY: 'c2hvcnQ=',
    }).map((p) => p.split(':')[0]),
  ).toEqual([
    'PORT',
    'REDIS_URL',
    'SMARTCAR_MODE',
    'SMARTCAR_REQUIRE_STATE',
    'SMARTCAR_API_ORIGIN',
    'SMARTCAR_CLIENT_ID and SMARTCAR_CLIENT_SECRET',
    'TOKEN_ENCRYPTION_KEY',
  ]);
});

test('Redis Cluster and Sentinel come from host:port lists', () => {
  expect(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000, 127.0.0.1:7001' }).redis.clusterNodes).toEqual([
    { host: '127.0.0.1', port: 7000 },
    { host: '127.0.0.1', port: 7001 },
  ]);
  expect(loadConfig({ REDIS_SENTINELS: 'sentinel:26379', REDIS_SENTINEL_NAME: 'mymaster' }).redis.sentinel).toEqual({ sentinels: [{ host: 'sentinel', port: 26379 }], name: 'mymaster' });
  expect(problems({ REDIS_CLUSTER_NODES: 'nope', REDIS_SENTINELS: 'a:1' })).toEqual([
    'REDIS_CLUSTER_NODES: a comma-separated list of host:port',
    'REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the master group name)',
  ]);
});

test('production never falls back to the simulator', () => {
  expect(problems({ NODE_ENV: 'production' })).toEqual([
    'SMARTCAR_CLIENT_ID and SMARTCAR_CLIENT_SECRET: required when NODE_ENV=production (the built-in simulator is for development)',
  ]);
});

test('credentials require a real key and a redirect URI', () => {
  expect(problems({ SMARTCAR_CLIENT_ID: 'a', SMARTCAR_CLIENT_SECRET: 'b' })).toEqual([
    'TOKEN_ENCRYPTION_KEY: required when Smartcar credentials are set (openssl rand -base64 32)',
    'SMARTCAR_REDIRECT_URI: required when Smartcar credentials are set (it must match the Connect URL and your Smartcar dashboard)',
  ]);
  const err = (() => {
    try {
      loadConfig({ SMARTCAR_CLIENT_ID: 'a', SMARTCAR_CLIENT_SECRET: 'b' });
    } catch (e) {
      return e as Error;
    }
  })();
  expect(err!.message).toMatch(/^Invalid configuration:\n  - TOKEN_ENCRYPTION_KEY/);
});

test('one bad variable is one line that names it, says what it accepts and shows what was given', () => {
  const err = (() => {
    try {
      loadConfig({ PORT: 'abc' });
    } catch (e) {
      return e as Error;
    }
  })();
  expect(err).toBeInstanceOf(ConfigError);
  expect(err!.message).toBe('Invalid configuration: PORT: must be a whole number from 0 to 65535, got "abc"');
  // Two checks failing on one value (not whole, below the minimum) are still one problem.
  expect(problems({ SMARTCAR_TIMEOUT_MS: '-1.5' })).toEqual(['SMARTCAR_TIMEOUT_MS: must be a whole number from 100 to 310000, got "-1.5"']);
  // What was given is shown for numbers only: other variables can hold secrets.
  expect(problems({ TOKEN_ENCRYPTION_KEY: 'c2hvcnQ=' })).toEqual(['TOKEN_ENCRYPTION_KEY: must be the base64 of exactly 32 bytes (openssl rand -base64 32)']);
});

test('LOG_FORMAT: json, pretty or auto (the default)', () => {
  expect(loadConfig({}).logFormat).toBe('auto');
  expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
  expect(loadConfig({ LOG_FORMAT: 'json' }).logFormat).toBe('json');
  expect(problems({ LOG_FORMAT: 'text' })).toEqual(['LOG_FORMAT: must be "json", "pretty" or "auto"']);
});

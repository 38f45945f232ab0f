import { randomBytes } from 'node:crypto';
import { ConfigError, DEFAULT_SCOPE, loadConfig } from '../../../src/config';
import { stateRequired } from '../../../src/connect/connect.service';

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
  expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', keyPrefix: 'gw:', commandTimeoutMs: 500, clusterNodes: null, sentinel: null, allowEviction: false });
  expect(c.limits).toEqual({
    maxDepth: 10,
    maxAliases: 30,
    maxTokens: 2000,
    maxSelections: 300,
    maxCost: 5000,
    maxReadingsPerRequest: 100,
    ratePerMinuteByIp: 600,
    ratePerMinuteBySession: 300,
    trustProxy: false,
  });
  expect(c.graphql).toEqual({ apqTtlSec: 86_400, trustedDocuments: null });
  expect(c.smartcar.mode).toBe('test');
  expect(c.smartcar.requireState).toBe('auto');
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
  expect(c.tokenKey).toEqual({ key: Buffer.from(key, 'base64'), previous: [], generated: false });
  expect(c.session.cookieSecure).toBe(true);
  expect(c.port).toBe(9001);
});

test('SMARTCAR_REQUIRE_STATE: true, false or auto (the default, also when empty)', () => {
  expect(loadConfig({ SMARTCAR_REQUIRE_STATE: 'auto' }).smartcar.requireState).toBe('auto');
  expect(loadConfig({ SMARTCAR_REQUIRE_STATE: '' }).smartcar.requireState).toBe('auto');
  expect(loadConfig({ SMARTCAR_REQUIRE_STATE: 'false' }).smartcar.requireState).toBe(false);
  expect(loadConfig({ SMARTCAR_REQUIRE_STATE: 'true' }).smartcar.requireState).toBe(true);
  expect(problems({ SMARTCAR_REQUIRE_STATE: 'AUTO' })).toEqual(['SMARTCAR_REQUIRE_STATE: must be "true", "false" or "auto"']);
});

test('auto requires a state for http(s) redirect URIs only', () => {
  expect(stateRequired('auto', 'http://localhost:8000/exchange')).toBe(true);
  expect(stateRequired('auto', 'HTTPS://gateway.example.com/exchange')).toBe(true);
  expect(stateRequired('auto', 'sc9d3a2a50-5d1c-4e5f-9a57-51a7c0ffee01://exchange')).toBe(false);
  expect(stateRequired('auto', 'myapp://smartcar/callback')).toBe(false);
  expect(stateRequired(false, 'https://gateway.example.com/exchange')).toBe(false);
  expect(stateRequired(true, 'scid://exchange')).toBe(true);
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
  expect(loadConfig({ REDIS_SENTINELS: 'sentinel:26379', REDIS_SENTINEL_NAME: 'mymaster' }).redis.sentinel).toEqual({
    sentinels: [{ host: 'sentinel', port: 26379 }],
    name: 'mymaster',
    username: null,
    password: null,
  });
  expect(loadConfig({ REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm', REDIS_SENTINEL_USERNAME: 'u', REDIS_SENTINEL_PASSWORD: 'p' }).redis.sentinel).toMatchObject({ username: 'u', password: 'p' });
  expect(loadConfig({ REDIS_ALLOW_EVICTION: 'true' }).redis.allowEviction).toBe(true);
  expect(problems({ REDIS_ALLOW_EVICTION: 'yes' })).toEqual(['REDIS_ALLOW_EVICTION: must be "true" or "false"']);
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

test("refresh deadlines: derived inside Smartcar's grace window, refused when they do not fit", () => {
  const d = loadConfig({});
  expect(d.refresh.graceMs).toBe(60_000);
  expect(d.smartcar.tokenTimeoutMs).toBe(10_000); // min(SMARTCAR_TIMEOUT_MS 15 s, 10 s, a quarter of 60 s)
  expect(d.refresh.lockTtlMs).toBe(15_000);
  const short = loadConfig({ SMARTCAR_REFRESH_GRACE_SEC: '8' });
  expect(short.smartcar.tokenTimeoutMs).toBe(2_000);
  expect(short.refresh.lockTtlMs).toBe(4_000); // the token call + 5 s would be 7 s: capped at half the window
  expect(loadConfig({ SMARTCAR_TIMEOUT_MS: '2000' }).smartcar.tokenTimeoutMs).toBe(2_000);
  expect(loadConfig({ SMARTCAR_TIMEOUT_MS: '2000' }).refresh.lockTtlMs).toBe(7_000);
  expect(problems({ SMARTCAR_TOKEN_TIMEOUT_MS: '15001' }).map((p) => p.split(':')[0])).toEqual(['SMARTCAR_TOKEN_TIMEOUT_MS']);
  expect(problems({ SMARTCAR_TOKEN_TIMEOUT_MS: '3000', TOKEN_REFRESH_LOCK_TTL_MS: '3000' })).toEqual([
    'TOKEN_REFRESH_LOCK_TTL_MS: must exceed the token call deadline (SMARTCAR_TOKEN_TIMEOUT_MS), or a slow refresh could lose its lock to a second one',
  ]);
  expect(problems({ TOKEN_REFRESH_LOCK_TTL_MS: '30001' })).toEqual([
    'TOKEN_REFRESH_LOCK_TTL_MS: at most half of SMARTCAR_REFRESH_GRACE_SEC (30000 ms), so the lock of a crashed refresh expires while its pair can still be recovered',
  ]);
  expect(loadConfig({ TOKEN_REFRESH_LOCK_TTL_MS: '30000' }).refresh.lockTtlMs).toBe(30_000);
  expect(problems({ SMARTCAR_REFRESH_GRACE_SEC: '1' }).map((p) => p.split(':')[0])).toEqual(['SMARTCAR_REFRESH_GRACE_SEC']);
});

test('TOKEN_ENCRYPTION_KEYS_PREVIOUS: a keyring of 32-byte keys beside the current one', () => {
  const old1 = randomBytes(32).toString('base64');
  const old2 = randomBytes(32).toString('base64');
  const c = loadConfig({ TOKEN_ENCRYPTION_KEY: key, TOKEN_ENCRYPTION_KEYS_PREVIOUS: ` ${old1}, ${old2},${key}` });
  expect(c.tokenKey.key).toEqual(Buffer.from(key, 'base64'));
  expect(c.tokenKey.previous).toEqual([Buffer.from(old1, 'base64'), Buffer.from(old2, 'base64')]); // the current key is not repeated
  expect(problems({ TOKEN_ENCRYPTION_KEY: key, TOKEN_ENCRYPTION_KEYS_PREVIOUS: `${old1},c2hvcnQ=` })).toEqual([
    'TOKEN_ENCRYPTION_KEYS_PREVIOUS: a comma-separated list of base64 keys of exactly 32 bytes each',
  ]);
  expect(problems({ TOKEN_ENCRYPTION_KEYS_PREVIOUS: old1 })).toEqual(['TOKEN_ENCRYPTION_KEYS_PREVIOUS: only with TOKEN_ENCRYPTION_KEY']);
});

test.each([
  [undefined, false],
  ['false', false],
  ['0', false],
  ['true', { hops: 1 }],
  ['2', { hops: 2 }],
  ['10.0.0.1', { addresses: ['10.0.0.1'] }],
  [' 127.0.0.1 , 10.0.0.0/8,fd00::/8, loopback ', { addresses: ['127.0.0.1', '10.0.0.0/8', 'fd00::/8', 'loopback'] }],
])('TRUST_PROXY=%p: %p', (raw, expected) => {
  expect(loadConfig(raw === undefined ? {} : { TRUST_PROXY: raw }).limits.trustProxy).toEqual(expected);
});

test.each(['yes', '21', '-1', '10.0.0.0/33', '::1/129', '10.0.0.1/8/8', 'proxy.internal', ','])('TRUST_PROXY=%p is refused', (raw) => {
  expect(problems({ TRUST_PROXY: raw }).map((p) => p.split(':')[0])).toEqual(['TRUST_PROXY']);
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

describe('API v3 (SMARTCAR_API_VERSION)', () => {
  const APP = '9d3a2a50-5d1c-4e5f-9a57-51a7c0ffee01';
  const v3Creds = { SMARTCAR_CLIENT_ID: 'client_abc', SMARTCAR_CLIENT_SECRET: 's', SMARTCAR_REDIRECT_URI: 'https://app.example/exchange', TOKEN_ENCRYPTION_KEY: key };

  test.each([
    [{}, 2],
    [{ SMARTCAR_API_VERSION: '3' }, 3],
    [{ ...v3Creds, SMARTCAR_APPLICATION_ID: APP }, 3],
    [{ ...v3Creds, SMARTCAR_CLIENT_ID: APP, SMARTCAR_APPLICATION_ID: APP }, 2],
    [{ ...v3Creds, SMARTCAR_CLIENT_ID: APP, SMARTCAR_APPLICATION_ID: APP, SMARTCAR_API_VERSION: '3' }, 3],
  ])('%j → version %s', (env, version) => {
    expect(loadConfig(env as Record<string, string>).smartcar.apiVersion).toBe(version);
  });

  test("the v3 hosts default to Smartcar's and follow their variables", () => {
    const c = loadConfig({ ...v3Creds, SMARTCAR_APPLICATION_ID: APP, SMARTCAR_IAM_ORIGIN: 'http://127.0.0.1:5030', SMARTCAR_MANAGEMENT_TOKEN: 'amt' });
    expect(c.smartcar.v3).toEqual({
      applicationId: APP,
      origins: { iam: 'http://127.0.0.1:5030', api: 'https://vehicle.api.smartcar.com', management: 'https://management.api.smartcar.com', connect: 'https://connect.smartcar.com' },
    });
    expect(c.smartcar.managementToken).toBe('amt');
    expect(loadConfig({}).smartcar.managementToken).toBeNull();
  });

  test('every bad v3 variable is listed at once', () => {
    expect(problems({ ...v3Creds, SMARTCAR_API_VERSION: '4', SMARTCAR_CONNECT_ORIGIN: 'ftp://x', SMARTCAR_APPLICATION_ID: 'client_abc' })).toEqual([
      'SMARTCAR_API_VERSION: must be "2" or "3"',
      'SMARTCAR_APPLICATION_ID: must be the Application ID from the Smartcar dashboard (a UUID; the client_… id is for the token endpoint only)',
      'SMARTCAR_CONNECT_ORIGIN: must be an http(s) origin without a trailing slash (the SDK concatenates paths to it)',
    ]);
    expect(problems(v3Creds)).toEqual(['SMARTCAR_APPLICATION_ID: required with SMARTCAR_API_VERSION=3 (the Application ID Connect takes, from the Smartcar dashboard)']);
    expect(problems({ ...v3Creds, SMARTCAR_API_VERSION: '2' })).toEqual([
      'SMARTCAR_CLIENT_ID: a client_… id is an API v3 credential; set SMARTCAR_API_VERSION=3 (or use the v2 client id)',
    ]);
  });
});

test('GraphQL for mobile clients: the persisted-query TTL and the trusted documents', () => {
  expect(loadConfig({ GRAPHQL_APQ_TTL_SEC: '3600', GRAPHQL_TRUSTED_DOCUMENTS: '/etc/gw/manifest.json' }).graphql).toEqual({ apqTtlSec: 3600, trustedDocuments: '/etc/gw/manifest.json' });
  expect(problems({ GRAPHQL_APQ_TTL_SEC: '10' })).toEqual([expect.stringMatching(/^GRAPHQL_APQ_TTL_SEC: /)]);
});

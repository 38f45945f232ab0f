import { hashSessionToken, newSessionToken } from '../../../src/session/session.token';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * The edge against abuse: GraphQL limits (each rejected query costs no upstream request), CSRF
 * prevention, rate limits, the readings cap, body size, and production mode.
 */

let stack: Stack;
let client: Client;
let vehicleIds: string[];

beforeAll(async () => {
  // 400 selections: the too-costly query below (378) reaches the cost rule.
  stack = await startStack({ env: { MAX_READINGS_PER_REQUEST: '20', GRAPHQL_MAX_ALIASES: '15', GRAPHQL_MAX_COST: '500', GRAPHQL_MAX_SELECTIONS: '400' } });
  client = new Client(stack.url);
  const url = (await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl;
  const back = await completeConsent(url, { username: `limits-${Date.now()}+3+phev@example.com` });
  const res = await client.gql<{ exchangeCode: { vehicles: { id: string }[] } }>('mutation($c: String!, $s: String) { exchangeCode(code: $c, state: $s) { vehicles { id } } }', {
    c: back.searchParams.get('code'),
    s: back.searchParams.get('state'),
  });
  vehicleIds = res.data!.exchangeCode.vehicles.map((v) => v.id);
});
afterAll(() => stack.stop());
beforeEach(() => stack.sim.resetRequests());

const upstream = () => stack.sim.requests().filter((r) => r.kind !== 'connect');

async function post(base: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${base}/graphql`, { method: 'POST', body, headers });
  return { status: res.status, text: await res.text() };
}

test('an ordinary query passes', async () => {
  const res = await client.gql('{ vehicle { make odometer { distance } } }');
  expect(res.errors).toBeUndefined();
});

test('too deep: GRAPHQL_VALIDATION_FAILED, nothing upstream', async () => {
  // The schema itself is shallow; nested introspection is how depth attacks are made. Through a
  // fragment, as the published bypasses did.
  const nested = 'query { ...Q } fragment Q on Query { __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }';
  const res = await client.gql(nested);
  expect(res.status).toBe(400);
  expect(res.errors?.[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  expect(upstream()).toEqual([]);
});

test('too many aliases: GRAPHQL_VALIDATION_FAILED, nothing upstream', async () => {
  const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: vehicle { odometer { distance } }`).join(' ');
  const res = await client.gql(`{ ${aliases} }`);
  expect(res.status).toBe(400);
  expect(res.errors?.[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  expect(res.errors?.[0]?.message).toMatch(/alias/i);
  expect(upstream()).toEqual([]);
});

test('too many tokens: GRAPHQL_PARSE_FAILED, nothing upstream', async () => {
  const res = await client.gql(`{ vehicle { ${'make '.repeat(2100)} } }`);
  expect(res.status).toBe(400);
  expect(res.errors?.[0]?.extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  expect(res.errors?.[0]?.message).toMatch(/contains more th.. 2000 tokens/) // graphql-js spells it 'more that';
  expect(upstream()).toEqual([]);
});

test('too costly: GRAPHQL_VALIDATION_FAILED, nothing upstream', async () => {
  const fields = 'odometer { distance dataAge fetchedAt } location { latitude longitude } battery { percentRemaining range } fuel { percentRemaining range amountRemaining } charge { isPluggedIn state } engineOil { lifeRemaining } tirePressure { frontLeft frontRight backLeft backRight } lockStatus { isLocked }';
  const many = Array.from({ length: 14 }, (_, i) => `v${i}: vehicles { ${fields} }`).join(' ');
  const res = await client.gql(`{ ${many} }`);
  expect(res.status).toBe(400);
  expect(res.errors?.[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  expect(res.errors?.[0]?.message).toMatch(/cost/i);
  expect(upstream()).toEqual([]);
});

test('too many selections: GRAPHQL_VALIDATION_FAILED before the costly rules, nothing upstream', async () => {
  // 1906 tokens (under the token limit), refused once cheaply instead of by graphql-js's pairwise
  // field comparison, which used to give up after milliseconds with "Validation aborted.". The
  // unknown field is never reported: no other rule walked the query.
  const res = await client.gql(`{ session { ${'connected '.repeat(1900)} } noSuchField }`);
  expect(res.status).toBe(400);
  expect(res.errors).toHaveLength(1);
  expect(res.errors![0]!.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  expect(res.errors![0]!.message).toBe('The query has more than 400 selections (fields and fragments, a fragment counted at each spread).');
  // Counted through fragments: 30 spreads of a 15-selection fragment.
  const spread = await client.gql(`{ vehicle { ${'...F '.repeat(30)} } } fragment F on Vehicle { make odometer { distance dataAge fetchedAt } ${'model '.repeat(10)} }`);
  expect(spread.errors?.[0]?.message).toMatch(/more than 400 selections/);
  expect(upstream()).toEqual([]);
});

test('one answer field selected more than 20 times: GRAPHQL_VALIDATION_FAILED, nothing upstream', async () => {
  // Eleven in each of two `vehicles`: merged as execution merges them. Served before, after 22²/2
  // pairwise comparisons.
  const res = await client.gql(`{ ${`vehicles { ${'odometer { distance } '.repeat(11)} } `.repeat(2)} }`);
  expect(res.status).toBe(400);
  expect(res.errors?.map((e) => [e.extensions.code, e.message])).toEqual([
    ['GRAPHQL_VALIDATION_FAILED', 'The query selects vehicles.odometer 22 times (repeated, aliased to one name, or through fragments); the limit is 20.'],
  ]);
  expect(upstream()).toEqual([]);
});

test('more distinct vehicle readings than the cap: BAD_USER_INPUT on those fields, nothing upstream', async () => {
  // 3 vehicles × (9 signals + attributes) = 30 readings > 20.
  const fields = 'make vin odometer { distance } location { latitude } battery { range } fuel { range } charge { state } engineOil { lifeRemaining } tirePressure { frontLeft } lockStatus { isLocked }';
  const res = await client.gql(`{ vehicles { ${fields} } }`);
  expect(res.errors?.length).toBeGreaterThan(0);
  expect(new Set(res.errors!.map((e) => e.extensions.code))).toEqual(new Set(['BAD_USER_INPUT']));
  expect(res.errors![0]!.message).toMatch(/asks for 30 vehicle readings; the limit is 20/);
  expect(upstream()).toEqual([]);
  // Within the cap it works.
  const ok = await client.gql(`{ vehicle(id: "${vehicleIds[0]}") { ${fields} } }`);
  expect(ok.errors).toBeUndefined();
});

test('CSRF prevention: a simple (non-preflighted) request is refused before execution', async () => {
  const plain = await post(stack.url, JSON.stringify({ query: '{ connectUrl }' }), { 'content-type': 'text/plain' });
  expect(plain.status).toBe(400);
  expect(plain.text).toMatch(/CSRF|preflight/i);
  const get = await fetch(`${stack.url}/graphql?query=${encodeURIComponent('{ connectUrl }')}`);
  expect(get.status).toBe(400);
  expect(await get.text()).toMatch(/CSRF|preflight/i);
  const allowed = await fetch(`${stack.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { 'apollo-require-preflight': 'true' } });
  expect(allowed.status).toBe(200);
  expect(upstream()).toEqual([]);
});

test('batched HTTP requests are refused', async () => {
  const res = await post(stack.url, JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]), { 'content-type': 'application/json' });
  expect(res.status).toBe(400);
});

test('a body over the size limit is refused with 413', async () => {
  const res = await post(stack.url, JSON.stringify({ query: `{ __typename } # ${'x'.repeat(70_000)}` }), { 'content-type': 'application/json' });
  expect(res.status).toBe(413);
  expect(JSON.parse(res.text)).toEqual({ error: { code: 'BAD_USER_INPUT', message: 'Malformed request.' } });
});

test('rate limits per session and per address: RATE_LIMITED with retryAfter, nothing upstream', async () => {
  const limited = await stack.another({ RATE_LIMIT_SESSION_PER_MIN: '5', RATE_LIMIT_IP_PER_MIN: '12' });
  const a = new Client(limited.url);
  a.cookies = client.cookies;
  const answers = [];
  for (let i = 0; i < 6; i++) answers.push(await a.gql('{ vehicle { make } }'));
  expect(answers.slice(0, 5).every((r) => r.status === 200 && !r.errors)).toBe(true);
  const sixth = answers[5]!;
  expect(sixth.status).toBe(429);
  expect(sixth.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number) });
  expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThan(0);
  // Another session from the same address still has room, until the address limit (12) is reached.
  const b = new Client(limited.url);
  let status = 0;
  for (let i = 0; i < 8 && status !== 429; i++) status = (await b.gql('{ __typename }')).status;
  expect(status).toBe(429);
  const rest = await fetch(`${limited.url}/vehicle`);
  expect(rest.status).toBe(429);
  expect((await rest.json()) as unknown).toMatchObject({ error: { code: 'RATE_LIMITED' } });
  stack.sim.resetRequests();
  await a.gql('{ vehicle { odometer { distance } } }');
  expect(upstream()).toEqual([]);
});

test('unknown session tokens get no per-session counter; a known session is still limited at its limit', async () => {
  const limited = await stack.another({ RATE_LIMIT_SESSION_PER_MIN: '3', RATE_LIMIT_IP_PER_MIN: '0' });
  const strangers = Array.from({ length: 20 }, () => newSessionToken());
  for (const [i, token] of strangers.entries()) {
    const c = new Client(limited.url);
    if (i % 2) c.bearer = token;
    else c.cookies.set('sid', token);
    expect((await c.gql('{ __typename }')).status).toBe(200);
  }
  const counter = (token: string) => `${stack.prefix}rl:session:{${hashSessionToken(token)}}`;
  const counted = await Promise.all(strangers.map((t) => stack.redis.exists(counter(t))));
  expect(counted.filter(Boolean)).toHaveLength(0);

  const app = new Client(limited.url);
  app.bearer = (await app.gql<{ createSession: { token: string } }>('mutation { createSession { token } }')).data!.createSession.token;
  app.cookies.clear();
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await app.gql('{ session { connected } }')).status);
  expect(statuses).toEqual([200, 200, 200, 429]);
  expect(Number(await stack.redis.get(counter(app.bearer)))).toBe(4);
  const ttl = await stack.redis.pttl(counter(app.bearer));
  expect(ttl).toBeGreaterThan(50_000);
  expect(ttl).toBeLessThanOrEqual(60_000);
});

describe('TRUST_PROXY: the client address behind proxies', () => {
  // What the gateway receives behind proxies: the X-Forwarded-For the client made up, then the
  // address each proxy appended. The socket (this test) is 127.0.0.1.
  async function send(url: string, n: number, forwardedFor: (i: number) => string): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor(i) },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    return statuses;
  }
  /** The addresses the per-address limiter counted (its Redis keys). */
  const counted = async () => (await stack.redis.keys(`${stack.prefix}rl:ip:*`)).map((k) => k.slice(`${stack.prefix}rl:ip:`.length)).sort();
  const LIMITED = [200, 200, 200, 200, 200, 429, 429, 429];

  test('true is one trusted hop: a client-chosen leftmost entry never decides', async () => {
    const gw = await stack.another({ TRUST_PROXY: 'true', RATE_LIMIT_IP_PER_MIN: '5' });
    expect(await send(gw.url, 8, (i) => `198.51.100.${i}, 203.0.113.7`)).toEqual(LIMITED);
    expect(await counted()).toContain('203.0.113.7');
    expect((await counted()).filter((a) => a.startsWith('198.51.100.'))).toEqual([]);
  });

  test('a number of hops: the address that many proxies back', async () => {
    const gw = await stack.another({ TRUST_PROXY: '2', RATE_LIMIT_IP_PER_MIN: '5' });
    expect(await send(gw.url, 8, (i) => `198.51.100.${i}, 203.0.113.8, 10.0.0.2`)).toEqual(LIMITED);
    expect(await counted()).toContain('203.0.113.8');
    expect((await counted()).filter((a) => a.startsWith('198.51.100.') || a === '10.0.0.2')).toEqual([]);
  });

  test('a list of trusted proxy addresses/CIDRs: the first untrusted address from the right', async () => {
    const gw = await stack.another({ TRUST_PROXY: '127.0.0.1, 10.0.0.0/8', RATE_LIMIT_IP_PER_MIN: '5' });
    expect(await send(gw.url, 8, (i) => `198.51.100.${i}, 203.0.113.9, 10.1.2.${i}`)).toEqual(LIMITED);
    expect(await counted()).toContain('203.0.113.9');
    expect((await counted()).filter((a) => a.startsWith('198.51.100.') || a.startsWith('10.1.2.'))).toEqual([]);
  });

  test('false (the default): the socket address, X-Forwarded-For ignored', async () => {
    const gw = await stack.another({ RATE_LIMIT_IP_PER_MIN: '1000' });
    expect(await send(gw.url, 3, (i) => `198.51.100.${100 + i}`)).toEqual([200, 200, 200]);
    expect((await counted()).filter((a) => a.startsWith('198.51.100.10'))).toEqual([]);
    expect(await counted()).toContain('127.0.0.1');
  });
});

describe('production mode', () => {
  let prod: { url: string };
  beforeAll(async () => {
    prod = await stack.another({ NODE_ENV: 'production', COOKIE_SECURE: 'false' });
  });

  test('no Sandbox landing page', async () => {
    const res = await fetch(`${prod.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await res.text()).not.toContain('embeddable-sandbox');
    expect(res.status).toBeGreaterThanOrEqual(400);
  });

  test('no introspection and no field suggestions', async () => {
    const p = new Client(prod.url);
    const intro = await p.gql('{ __schema { types { name } } }');
    expect(intro.errors?.[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(intro.errors?.[0]?.message).toMatch(/introspection/i);
    const typo = await p.gql('{ vehicl { make } }');
    expect(typo.errors?.[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(typo.raw).not.toMatch(/Did you mean/);
  });

  test('errors are masked: no stack, no upstream body', async () => {
    const p = new Client(prod.url);
    p.cookies = client.cookies;
    stack.sim.addFault({ target: 'api', mode: 'html', status: 500, count: 1 });
    const res = await p.gql(`{ vehicle(id: "${vehicleIds[1]}") { odometer { distance } } }`);
    stack.sim.clearFaults();
    expect(res.errors?.[0]?.extensions.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(res.raw).not.toMatch(/stacktrace|<html|at [A-Za-z]+ \(/);
  });
});

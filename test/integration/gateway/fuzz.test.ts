import fc from 'fast-check';
import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * A few thousand malformed inputs at every door: GraphQL documents and variables, cookies, bearer
 * tokens, codes and states, REST query strings. No 5xx other than the contract's, no crash, and no
 * token, session token or stack trace in any response or log line.
 */

let stack: Stack;
let owner: Client;
let vehicleId: string;
const username = `fuzz-${Date.now()}+2@example.com`;
const responses: string[] = [];

beforeAll(async () => {
  stack = await startStack();
  owner = new Client(stack.url);
  const url = (await owner.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl;
  const back = await completeConsent(url, { username });
  const res = await owner.gql<{ exchangeCode: { vehicles: { id: string }[] } }>('mutation($c: String!, $s: String) { exchangeCode(code: $c, state: $s) { vehicles { id } } }', {
    c: back.searchParams.get('code'),
    s: back.searchParams.get('state'),
  });
  vehicleId = res.data!.exchangeCode.vehicles[0]!.id;
}, 30_000);
afterAll(() => stack.stop());

const printable = (max: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });
const anyText = (max: number) => fc.oneof(printable(max), fc.string({ maxLength: max, unit: 'grapheme' }), fc.string({ maxLength: max, unit: 'binary' }));

const VALID = [
  '{ vehicles { id make model year } }',
  'query Q($id: ID) { vehicle(id: $id) { make odometer(maxAge: 5) { distance } lockStatus { isLocked } } }',
  'mutation M($c: String!, $s: String) { exchangeCode(code: $c, state: $s) { vehicles { id } } }',
  '{ connectUrl(scope: ["read_odometer"], make: "TESLA") }',
  'mutation L($id: ID!) { lockVehicle(id: $id) { status } }',
  '{ session { connected vehicleIds } }',
];

/** A valid document with a few characters changed, inserted or removed. */
const mutatedDocument = fc
  .tuple(fc.constantFrom(...VALID), fc.array(fc.tuple(fc.nat(), fc.nat(3), printable(3)), { maxLength: 4 }))
  .map(([doc, edits]) => edits.reduce((d, [at, cut, ins]) => d.slice(0, at % (d.length + 1)) + ins + d.slice((at % (d.length + 1)) + cut), doc));

const document = fc.oneof(mutatedDocument, anyText(200), fc.constantFrom(...VALID));
const variables = fc.oneof(
  fc.constant(undefined),
  fc.dictionary(fc.constantFrom('id', 'c', 's', 'code', 'state', 'make', 'scope'), fc.oneof(fc.jsonValue(), fc.constant(vehicleIdPlaceholder()))),
  fc.jsonValue(),
);
function vehicleIdPlaceholder(): string {
  return '__VEHICLE__';
}
const cookie = fc.oneof(fc.constant(undefined), printable(80).map((v) => `sid=${v}`), printable(120), fc.constant('OWNER'));
const bearer = fc.oneof(fc.constant(undefined), printable(80), fc.constant('OWNER'), fc.base64String({ maxLength: 60 }));

function headers(c: string | undefined, b: string | undefined, contentType = 'application/json'): Record<string, string> {
  const h: Record<string, string> = { 'content-type': contentType };
  const sid = owner.cookies.get('sid')!;
  if (c !== undefined) h.cookie = c === 'OWNER' ? `sid=${sid}` : c;
  if (b !== undefined) h.authorization = `Bearer ${b === 'OWNER' ? sid : b}`;
  return h;
}

/** Every answer must be one the contract knows. */
async function check(res: Response): Promise<void> {
  const text = await res.text();
  responses.push(text);
  if (res.status >= 500) {
    expect(res.status).toBe(503);
    expect(text).toContain('SERVICE_UNAVAILABLE');
  }
  expect(text).not.toMatch(/\n\s+at |stacktrace/);
}

test('GraphQL documents, variables, cookies and bearer tokens', async () => {
  await fc.assert(
    fc.asyncProperty(document, variables, cookie, bearer, async (query, vars, c, b) => {
      const body = JSON.stringify({ query, variables: JSON.parse(JSON.stringify(vars ?? null)?.replaceAll('__VEHICLE__', vehicleId) ?? 'null') });
      await check(await fetch(`${stack.url}/graphql`, { method: 'POST', headers: headers(c, b), body }));
    }),
    { numRuns: 1200 },
  );
}, 120_000);

test('raw bodies and content types', async () => {
  await fc.assert(
    fc.asyncProperty(anyText(300), fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/graphql'), cookie, async (raw, type, c) => {
      await check(await fetch(`${stack.url}/graphql`, { method: 'POST', headers: headers(c, undefined, type), body: raw }));
    }),
    { numRuns: 500 },
  );
}, 120_000);

test('codes and states, through GraphQL and the tutorial routes', async () => {
  await fc.assert(
    fc.asyncProperty(anyText(80), fc.option(anyText(80)), cookie, async (code, state, c) => {
      const gql = JSON.stringify({ query: VALID[2], variables: { c: code, s: state } });
      await check(await fetch(`${stack.url}/graphql`, { method: 'POST', headers: headers(c, undefined), body: gql }));
      const qs = new URLSearchParams({ code, ...(state !== null && { state }) });
      const rest = await fetch(`${stack.url}/exchange?${qs}`, { headers: headers(c, undefined), redirect: 'manual' });
      expect([302, 400, 401]).toContain(rest.status);
      await check(rest);
    }),
    { numRuns: 500 },
  );
}, 120_000);

test('vehicle ids and query strings on /vehicle', async () => {
  await fc.assert(
    fc.asyncProperty(anyText(60), cookie, bearer, async (id, c, b) => {
      const res = await fetch(`${stack.url}/vehicle?id=${encodeURIComponent(id)}`, { headers: headers(c, b) });
      expect([200, 400, 401, 404]).toContain(res.status);
      await check(res);
    }),
    { numRuns: 400 },
  );
}, 120_000);

test('nothing secret leaked, nothing internal failed', () => {
  expect(responses.length).toBeGreaterThan(2500);
  const secrets = [...stack.sim.issuedTokens(username), owner.cookies.get('sid')!];
  expect(secrets.length).toBeGreaterThanOrEqual(3);
  const all = [...responses, ...stack.logs].join('\n');
  for (const s of secrets) expect(all).not.toContain(s);
  expect(stack.logs.filter((l) => /"level":50|\n\s+at /.test(l))).toEqual([]);
});

import { completeConsent } from '../../support/connect';
import { Client, startStack, type Stack } from '../../support/gateway';

/**
 * What the gateway's log says when Smartcar fails: Smartcar's own error code is there to search for
 * (only OAuth codes are redacted), and a request whose every field failed is one line, not one per field.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.stop());
afterEach(() => stack.sim.clearFaults());

async function connected(username: string): Promise<{ client: Client; code: string }> {
  const client = new Client(stack.url);
  const url = (await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl;
  const back = await completeConsent(url, { username });
  const code = back.searchParams.get('code')!;
  const res = await client.gql('mutation($code: String!, $state: String) { exchangeCode(code: $code, state: $state) { vehicles { id } } }', {
    code,
    state: back.searchParams.get('state'),
  });
  expect(res.errors).toBeUndefined();
  return { client, code };
}

const linesOf = (requestId: string) => stack.logs.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.requestId === requestId);

test("a Smartcar failure's log line keeps Smartcar's error code; the OAuth code never appears", async () => {
  const { client, code } = await connected(`log-asleep-${Date.now()}+asleep@example.com`);
  const res = await client.gql('{ vehicle { odometer { distance } } }');
  expect(res.errors?.map((e) => e.extensions.code)).toEqual(['VEHICLE_STATE']);
  const [failed, ...rest] = linesOf(res.headers.get('x-request-id')!);
  expect(rest.map((l) => l.msg)).toEqual(['request']);
  // The access line: one per request, at info, with these fields and nothing of the request's body.
  expect(rest[0]).toEqual({ level: 30, time: expect.any(String), service: 'vehicle-gateway', requestId: res.headers.get('x-request-id'), method: 'POST', path: '/graphql', status: 200, ms: expect.any(Number), msg: 'request' });
  expect(failed).toMatchObject({
    msg: 'smartcar call failed',
    code: 'VEHICLE_STATE',
    path: ['vehicle', 'odometer'],
    upstream: { kind: 'response', status: 409, smartcar: { type: 'VEHICLE_STATE', code: 'ASLEEP', resolution: 'RETRY_LATER' } },
  });
  expect(failed).not.toHaveProperty('failures'); // one failure: no tally
  expect(stack.logs.join('\n')).not.toContain(code);
});

test('100 readings failing at once: one log line for the request, with the count', async () => {
  const { client } = await connected(`log-fleet-${Date.now()}+12@example.com`);
  stack.sim.addFault({ target: 'api', mode: 'error', status: 503 });
  const fields = 'odometer { distance } location { latitude } battery { range } fuel { range } charge { state } engineOil { lifeRemaining } tirePressure { frontLeft } lockStatus { isLocked }';
  const res = await client.gql(`{ vehicles { id ${fields} } }`);
  expect(res.errors).toHaveLength(12 * 8);
  expect(new Set(res.errors!.map((e) => e.extensions.code))).toEqual(new Set(['UPSTREAM_UNAVAILABLE']));
  const lines = linesOf(res.headers.get('x-request-id')!);
  expect(lines.map((l) => l.msg)).toEqual(['smartcar call failed', 'request']);
  expect(lines[0]).toMatchObject({ level: 40, code: 'UPSTREAM_UNAVAILABLE', failures: 96, codes: { UPSTREAM_UNAVAILABLE: 96 }, upstream: { status: 503 } });
});

import { randomBytes } from 'node:crypto';
import { completeConsent } from '../../support/connect';
import { connectionKeysOf } from '../../support/car';
import { Client, startStack, type Stack } from '../../support/gateway';
import { COMPLETE, consentV3, v3Env } from '../../support/v3';

/**
 * A `user_id` is a bearer credential anybody could replay: the gateway binds it to a session only
 * with a state that session was issued and after Smartcar's Connections API shows the user's
 * connection carries the external id of that state's Connect URL. Anything else: BAD_USER_INPUT,
 * nothing stored.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: v3Env });
}, 30_000);
afterAll(() => stack?.stop());

const unique = () => `v3bind-${randomBytes(4).toString('hex')}@example.com`;
const lastSeq = () => stack.sim.requests().at(-1)?.seq ?? 0;

/** The answer is BAD_USER_INPUT and the session holds no connection, in Redis or in GraphQL. */
async function refusedAndNothingStored(client: Client, redirectUrl: string, message: RegExp): Promise<void> {
  const res = await client.gql(COMPLETE, { u: redirectUrl });
  expect(res.data).toBeNull();
  expect(res.errors!.map((e) => [e.extensions.code, e.message])).toEqual([['BAD_USER_INPUT', expect.stringMatching(message)]]);
  expect(await connectionKeysOf(stack.redis, stack.prefix, client)).toEqual([]);
  expect((await client.gql<{ session: { connected: boolean } }>('{ session { connected } }')).data).toEqual({ session: { connected: false } });
}

test('a user_id with no state', async () => {
  const victim = new Client(stack.url);
  const back = await consentV3(victim, unique());
  const client = new Client(stack.url);
  await client.gql('{ connectUrl }'); // a session of its own, with a state of its own
  const since = lastSeq();
  const bare = new URL(back);
  bare.searchParams.delete('state');
  await refusedAndNothingStored(client, bare.toString(), /^state: required with a user_id/);
  // Refused before anything was asked of Smartcar.
  expect(stack.sim.requests(since).filter((r) => r.kind !== 'other')).toEqual([]);
  // Over REST too.
  const rest = await client.get(`/exchange${bare.search}`);
  expect([rest.status, JSON.parse(rest.body).error.code]).toEqual([400, 'BAD_USER_INPUT']);
});

test("a user_id with another session's state; that session can still use it", async () => {
  const owner = new Client(stack.url);
  const back = await consentV3(owner, unique());
  const attacker = new Client(stack.url);
  await attacker.gql('{ connectUrl }');
  const since = lastSeq();
  await refusedAndNothingStored(attacker, back.toString(), /^state: unknown, expired, already used, or issued to another session/);
  expect(stack.sim.requests(since).filter((r) => r.kind !== 'other')).toEqual([]);

  const ok = await owner.gql<{ completeConnect: { vehicles: { id: string }[] } }>(COMPLETE, { u: back.toString() });
  expect(ok.errors).toBeUndefined();
  expect(ok.data!.completeConnect.vehicles).toHaveLength(1);
});

test('a user_id whose connection carries another external_id (with a valid state of this session)', async () => {
  const username = unique();
  // The driver connects through somebody else's Connect URL...
  const other = new Client(stack.url);
  const theirs = await consentV3(other, username);
  // ...and this session presents that user_id with a state it was issued itself.
  const client = new Client(stack.url);
  const ours = new URL((await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl);
  const forged = new URL(theirs);
  forged.searchParams.set('state', ours.searchParams.get('state')!);
  forged.searchParams.set('external_id', ours.searchParams.get('external_id')!); // what Connect's redirect echoes proves nothing
  const since = lastSeq();
  await refusedAndNothingStored(client, forged.toString(), /^user_id: this user's connection was not made through this session's Connect URL/);
  const asked = stack.sim.requests(since).filter((r) => r.kind === 'api');
  expect(asked.map((r) => [r.path, r.query['filter[userId]'], r.query['filter[user.externalId]']])).toEqual([
    ['/v3/connections', stack.sim.user(username).id, ours.searchParams.get('external_id')],
  ]);
  // The state was spent on the attempt: presenting it again does not work either.
  await refusedAndNothingStored(client, forged.toString(), /^state: unknown/);
});

test('the external id is fresh for every state, and a v3 user_id through the tutorial route needs both conditions too', async () => {
  const client = new Client(stack.url);
  const ids = new Set<string>();
  for (let i = 0; i < 5; i++) ids.add(new URL((await client.gql<{ connectUrl: string }>('{ connectUrl }')).data!.connectUrl).searchParams.get('external_id')!);
  expect(ids.size).toBe(5);

  const username = unique();
  const theirs = await consentV3(new Client(stack.url), username);
  const start = await client.get('/connect');
  const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
  const res = await client.get(`/exchange?user_id=${theirs.searchParams.get('user_id')}&state=${state}`);
  expect([res.status, JSON.parse(res.body).error.code]).toEqual([400, 'BAD_USER_INPUT']);
  expect(await connectionKeysOf(stack.redis, stack.prefix, client)).toEqual([]);

  // The same driver through a fresh URL of this session works (that state was spent).
  const again = await client.get('/connect');
  const back = await completeConsent(again.headers.get('location')!, { username });
  const ok = await client.get(`/exchange${back.search}`);
  expect(ok.status).toBe(302);
  expect(await connectionKeysOf(stack.redis, stack.prefix, client)).toHaveLength(1);
});

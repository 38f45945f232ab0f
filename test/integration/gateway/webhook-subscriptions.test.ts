import { randomBytes } from 'node:crypto';
import { WebhookSubscriptions } from '../../../src/live/webhook.subscriptions';
import { createLogger } from '../../../src/logger';
import { keys } from '../../../src/redis';
import { createV3Adapter } from '../../../src/smartcar/v3.adapter';
import { TokenCipher } from '../../../src/tokens/token.cipher';
import { Client, startStack, type Stack } from '../../support/gateway';
import { privateKeyspace } from '../../support/redis';
import { connectV3Car, v3Env } from '../../support/v3';

/**
 * Webhook subscriptions as jobs: stored sealed before they are tried, retried with backoff after a
 * failure (by whichever instance finds them due), dropped only when Smartcar refuses them for good.
 * Real Redis, the simulator's management API, a gateway (without a webhook id) to connect the cars.
 */

let stack: Stack;
const space = privateKeyspace('whsub');
const cipher = new TokenCipher(randomBytes(32));

beforeAll(async () => {
  stack = await startStack({ env: v3Env });
}, 30_000);
afterAll(() => stack?.stop());

function jobs(options: Partial<{ inlineWaitMs: number; backoffMs: number; leaseMs: number }> = {}) {
  const adapter = createV3Adapter({
    ...stack.sim.v3,
    redirectUri: 'https://app.example/callback',
    mode: 'test',
    timeoutMs: 5_000,
    tokenTimeoutMs: 5_000,
    origins: { iam: stack.sim.origin, api: stack.sim.origin, connect: stack.sim.origin, management: stack.sim.origin },
  });
  const logs: string[] = [];
  const subs = new WebhookSubscriptions(
    space.redis(),
    cipher,
    adapter.webhooks,
    async (userId, call) => call({ api: 3, appToken: (await adapter.fetchAppToken()).accessToken, userId }),
    { webhookId: stack.sim.v3.webhookId, leaseMs: options.leaseMs ?? 10_000, inlineWaitMs: options.inlineWaitMs ?? 2_000, backoffMs: options.backoffMs ?? 50, maxBackoffMs: 1_000 },
    createLogger('debug', { write: (line: string) => void logs.push(line) }),
  );
  return { subs, logs };
}

async function driver(): Promise<{ userId: string; vehicleId: string }> {
  const username = `whsub-${randomBytes(4).toString('hex')}@example.com`;
  const [vehicleId] = await connectV3Car(new Client(stack.url), username);
  return { userId: stack.sim.user(username).id, vehicleId: vehicleId! };
}

/** The vehicle's subscriptions to the webhook, as Smartcar's management API lists them. */
async function subscribed(userId: string, vehicleId: string): Promise<number> {
  const token = (await fetch(`${stack.sim.origin}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: stack.sim.v3.clientId, client_secret: stack.sim.v3.clientSecret }),
  }).then((r) => r.json())) as { access_token: string };
  const q = new URLSearchParams({ 'filter[webhookId]': stack.sim.v3.webhookId, 'filter[userId]': userId, 'filter[vehicleId]': vehicleId });
  const res = (await fetch(`${stack.sim.origin}/v3/subscriptions?${q}`, { headers: { authorization: `Bearer ${token.access_token}` } }).then((r) => r.json())) as { data: unknown[] };
  return res.data.length;
}

const pending = () => space.redis().zrange(keys.webhookSubscriptionJobs(), 0, -1);

test('subscribed at once, and the job is gone; unsubscribed the same way', async () => {
  const { userId, vehicleId } = await driver();
  const { subs } = jobs();
  await subs.subscribe(userId, [vehicleId]);
  expect(await pending()).toEqual([]);
  expect(await subscribed(userId, vehicleId)).toBe(1);
  // Again: Smartcar's 409 (it exists) counts as done.
  await subs.subscribe(userId, [vehicleId]);
  expect(await pending()).toEqual([]);
  await subs.unsubscribe(userId, [vehicleId]);
  expect(await subscribed(userId, vehicleId)).toBe(0);
}, 30_000);

test('a failed attempt stays in Redis, sealed, and the next due round subscribes the vehicle', async () => {
  const { userId, vehicleId } = await driver();
  const { subs } = jobs({ backoffMs: 200 });
  stack.sim.addFault({ target: 'api', mode: 'error', status: 503, count: 1 });
  await subs.subscribe(userId, [vehicleId]);
  const stored = await pending();
  expect(stored).toHaveLength(1);
  expect(stored[0]).toMatch(/^v1\./); // sealed: the driver's user id is not in clear
  expect(stored.join()).not.toContain(userId);
  expect(await subscribed(userId, vehicleId)).toBe(0);
  expect(await subs.runDue()).toBe(0); // not due yet (backoff)
  await new Promise((r) => setTimeout(r, 250));
  // Another instance's round finds it (a second WebhookSubscriptions on the same Redis).
  expect(await jobs().subs.runDue()).toBe(1);
  expect(await pending()).toEqual([]);
  expect(await subscribed(userId, vehicleId)).toBe(1);
}, 30_000);

test('a job whose instance died mid-attempt is retried once its lease ends; one refused for good is dropped', async () => {
  const { userId, vehicleId } = await driver();
  // The first attempt hangs past the inline wait: the job stays leased, as a crashed instance leaves it.
  stack.sim.addFault({ target: 'api', mode: 'delay', delayMs: 1_500, count: 1 });
  const { subs } = jobs({ inlineWaitMs: 50, leaseMs: 400 });
  await subs.subscribe(userId, [vehicleId]);
  expect(await pending()).toHaveLength(1);
  const other = jobs({ leaseMs: 400 }).subs;
  expect(await other.runDue()).toBe(0); // leased to the first instance
  await new Promise((r) => setTimeout(r, 450));
  expect(await other.runDue()).toBe(1); // the lease ran out: the other instance takes it over
  expect(await pending()).toEqual([]);
  expect(await subscribed(userId, vehicleId)).toBe(1);
  await subs.drain(); // the slow first attempt ends too: 409, done, nothing left
  expect(await pending()).toEqual([]);
  expect(await subscribed(userId, vehicleId)).toBe(1);

  const { subs: s2, logs } = jobs();
  await s2.subscribe(userId, ['00000000-0000-4000-8000-000000000000']); // no such vehicle: 404
  expect(await pending()).toEqual([]);
  expect(logs.map((l) => JSON.parse(l).msg)).toContain('Smartcar refused a webhook subscription change for good: dropped');
}, 30_000);

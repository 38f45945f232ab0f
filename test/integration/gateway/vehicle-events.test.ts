import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { createLogger } from '../../../src/logger';
import { TooManySubscriptions, VehicleEvents, type VehicleUpdate } from '../../../src/live/vehicle-events';
import { testRedisUrl } from '../../support/gateway';

/** Vehicle updates between two "instances" (their own Redis connections) over real Redis pub/sub. */

const prefix = `ve${randomBytes(4).toString('hex')}:`;
const clients: Redis[] = [];
const redis = () => {
  const r = new Redis(testRedisUrl(), { keyPrefix: prefix, maxRetriesPerRequest: 1 });
  clients.push(r);
  return r;
};
const instances: VehicleEvents[] = [];
async function instance(limits = { perSession: 3, perProcess: 5 }): Promise<VehicleEvents> {
  const events = new VehicleEvents(redis(), redis(), limits, createLogger('silent'));
  instances.push(events);
  await events.start();
  return events;
}
afterAll(async () => {
  await Promise.all(instances.map((i) => i.stop()));
  for (const c of clients) c.disconnect();
});

const hash = () => randomBytes(32).toString('base64url');
const until = async (check: () => boolean, ms = 1_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('published on A, heard on B within a second by that session’s listeners only', async () => {
  const [a, b] = [await instance(), await instance()];
  const mine = hash();
  const heard: VehicleUpdate[] = [];
  const other: VehicleUpdate[] = [];
  b.listen(mine, (u) => heard.push(u));
  b.listen(hash(), (u) => other.push(u));
  const started = Date.now();
  await a.publish({ sessionHash: mine, vehicleId: 'v-1' });
  await until(() => heard.length === 1);
  expect(Date.now() - started).toBeLessThan(1_000);
  expect(heard).toEqual([{ sessionHash: mine, vehicleId: 'v-1' }]);
  await new Promise((r) => setTimeout(r, 50));
  expect(other).toEqual([]);
});

test('unsubscribed listeners hear nothing; limits per session and per process; a failing listener does not stop the others', async () => {
  const a = await instance({ perSession: 2, perProcess: 3 });
  const s = hash();
  const heard: string[] = [];
  const off = a.listen(s, () => heard.push('first'));
  a.listen(s, () => {
    throw new Error('boom');
  });
  expect(() => a.listen(s, () => undefined)).toThrow(new TooManySubscriptions('At most 2 subscriptions per session.'));
  a.listen(hash(), () => undefined);
  expect(a.size).toBe(3);
  expect(() => a.listen(hash(), () => undefined)).toThrow(TooManySubscriptions);
  await a.publish({ sessionHash: s, vehicleId: 'v' });
  await until(() => heard.length === 1);
  off();
  off(); // twice is once
  expect(a.size).toBe(2);
  a.listen(hash(), () => undefined); // room again
  await a.publish({ sessionHash: s, vehicleId: 'v' });
  await new Promise((r) => setTimeout(r, 100));
  expect(heard).toEqual(['first']);
});

test('another prefix (another deployment on the same Redis) is another channel', async () => {
  const a = await instance();
  const foreign = new Redis(testRedisUrl(), { keyPrefix: `other${prefix}` });
  clients.push(foreign);
  const s = hash();
  const heard: string[] = [];
  a.listen(s, (u) => heard.push(u.vehicleId));
  await new VehicleEvents(foreign, foreign, { perSession: 1, perProcess: 1 }, createLogger('silent')).publish({ sessionHash: s, vehicleId: 'x' });
  await a.publish({ sessionHash: s, vehicleId: 'mine' });
  await until(() => heard.length >= 1);
  await new Promise((r) => setTimeout(r, 50));
  expect(heard).toEqual(['mine']);
});

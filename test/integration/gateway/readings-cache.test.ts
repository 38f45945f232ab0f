import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { keys } from '../../../src/redis';
import { ReadingsCache, type CachedReading, type ReadingRef } from '../../../src/vehicles/readings.cache';
import { privateKeyspace } from '../../support/redis';

/** The readings cache's "newer only" write (webhooks), on the test Redis. */

const { redis: keyspace } = privateKeyspace('rc');
let redis: Redis;
let cache: ReadingsCache;
beforeAll(() => {
  redis = keyspace();
  cache = new ReadingsCache(redis);
});

const odometer: ReadingRef = { vehicleId: 'v1', signal: 'odometer', units: 'metric' };
const battery: ReadingRef = { vehicleId: 'v1', signal: 'battery', units: 'metric' };
const reading = (distance: number, dataAge: number | null): CachedReading => ({ values: { distance }, dataAge, fetchedAt: dataAge, receivedAt: 5_000 });

async function connection() {
  const hash = randomBytes(32).toString('base64url');
  const id = randomBytes(6).toString('base64url');
  await redis.hset(keys.connection(hash, id), 'ver', 1);
  const held = async (ref: ReadingRef) => ((await cache.get(hash, id, [ref]))[0] ?? null)?.values.distance ?? null;
  return { hash, id, held };
}

test.each([
  ['nothing held: written', null, reading(2, 2_000), true],
  ['an older reading held: replaced', reading(1, 1_000), reading(2, 2_000), true],
  ['a newer reading held: kept', reading(3, 3_000), reading(2, 2_000), false],
  ['the same time held: kept', reading(1, 2_000), reading(2, 2_000), false],
  ['a dated reading held, this one of unknown age: kept', reading(1, 1_000), reading(2, null), false],
  ['a reading of unknown age held: replaced by a dated one', reading(1, null), reading(2, 1), true],
  ['both of unknown age: replaced', reading(1, null), reading(2, null), true],
])('%s', async (_what, before, incoming, written) => {
  const c = await connection();
  if (before) await cache.set(c.hash, c.id, [[odometer, before]]);
  expect(await cache.setIfNewer(c.hash, c.id, [[odometer, incoming]])).toEqual(written ? [odometer] : []);
  expect(await c.held(odometer)).toBe(written ? 2 : before!.values.distance);
});

test('several readings at once: each judged on its own; out of order and twice, the newest stays', async () => {
  const c = await connection();
  await cache.set(c.hash, c.id, [[battery, reading(50, 5_000)]]);
  expect(await cache.setIfNewer(c.hash, c.id, [[odometer, reading(10, 1_000)], [battery, reading(40, 4_000)]])).toEqual([odometer]);
  const deliveries = [reading(30, 3_000), reading(20, 2_000), reading(30, 3_000), reading(10, 1_000)];
  await Promise.all(deliveries.map((r) => cache.setIfNewer(c.hash, c.id, [[odometer, r]])));
  expect(await c.held(odometer)).toBe(30);
  expect(await c.held(battery)).toBe(50);
});

test('what is held but unreadable is replaced; a connection that is gone gets nothing', async () => {
  const c = await connection();
  await redis.hset(keys.connection(c.hash, c.id), 'r2:v1:metric:odometer', 'not json');
  expect(await cache.setIfNewer(c.hash, c.id, [[odometer, reading(2, 2_000)]])).toEqual([odometer]);
  expect(await c.held(odometer)).toBe(2);

  const gone = randomBytes(32).toString('base64url');
  expect(await cache.setIfNewer(gone, 'x', [[odometer, reading(2, 2_000)]])).toBeNull();
  expect(await redis.exists(keys.connection(gone, 'x'))).toBe(0);
});

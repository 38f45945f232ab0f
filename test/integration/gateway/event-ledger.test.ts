import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { EventLedger } from '../../../src/live/event-ledger';
import { privateKeyspace } from '../../support/redis';

const { prefix, redis: keyspace } = privateKeyspace('el');
let redis: Redis;
beforeAll(() => {
  redis = keyspace();
});

test('claimed once; in progress for the others meanwhile; done for a week; a release lets the next retry apply it', async () => {
  const ledger = new EventLedger(redis);
  const id = randomUUID();
  expect(await Promise.all([ledger.claim(id), ledger.claim(id), new EventLedger(redis).claim(id)])).toEqual(['claimed', 'in_progress', 'in_progress']);
  await ledger.done(id);
  expect(await ledger.claim(id)).toBe('done');
  const [key] = await redis.keys(`${prefix}wh:evt:*`);
  expect(key).not.toContain(id); // hashed
  const ttl = await redis.pttl(key!.slice(prefix.length));
  expect(ttl).toBeGreaterThan(7 * 86_400_000 - 60_000);

  const failed = randomUUID();
  expect(await ledger.claim(failed)).toBe('claimed');
  await ledger.release(failed);
  expect(await ledger.claim(failed)).toBe('claimed');
  await ledger.done(failed);
  await ledger.release(failed); // a release after done leaves it done
  expect(await ledger.claim(failed)).toBe('done');
});

test('a claim whose holder died expires: the event can be applied again', async () => {
  const ledger = new EventLedger(redis, 150);
  const id = randomUUID();
  expect(await ledger.claim(id)).toBe('claimed');
  expect(await ledger.claim(id)).toBe('in_progress');
  await new Promise((r) => setTimeout(r, 200));
  expect(await ledger.claim(id)).toBe('claimed');
});

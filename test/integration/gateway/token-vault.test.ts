import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { keys } from '../../../src/redis';
import type { TokenPair } from '../../../src/smartcar/smartcar.port';
import { acquireLock, releaseLock, renewLock, withLease } from '../../../src/tokens/redis-lock';
import { TokenCipher } from '../../../src/tokens/token.cipher';
import { TokenVault, UnreadablePairError } from '../../../src/tokens/token.vault';
import { privateKeyspace } from '../../support/redis';

/**
 * What the refresh path keeps in Redis, script by script, on the test Redis: the record of a refresh
 * in flight (`rfv`/`rft` and the pending index), compare-and-set, removal, and the locks.
 */

const DAY = 86_400_000;
const { redis: keyspace } = privateKeyspace('tv');
let redis: Redis;
let vault: TokenVault;
const cipher = new TokenCipher(randomBytes(32));
beforeAll(() => {
  redis = keyspace();
  vault = new TokenVault(redis, cipher);
});
beforeEach(() => redis.del(keys.refreshPending()));

const pair = (tag: string, refreshExpiresAt = Date.now() + 60 * DAY): TokenPair => ({
  accessToken: `a-${tag}`,
  refreshToken: `r-${tag}`,
  expiresAt: Date.now() + 3_600_000,
  refreshExpiresAt,
});

async function connection(sessionExpires = Date.now() + DAY) {
  const hash = randomBytes(32).toString('base64url');
  const id = randomBytes(6).toString('base64url');
  await redis.hset(keys.connection(hash, id), { pair: vault.seal(hash, id, pair('1')), ver: 1, iat: 1_000 });
  await redis.hset(keys.session(hash), { [`c:${id}`]: 'ref', expires: String(sessionExpires) });
  await redis.pexpireat(keys.session(hash), sessionExpires);
  return { hash, id, key: keys.connection(hash, id) };
}

test('read: the pair, its version and issue time; pending only while rfv is this version', async () => {
  const c = await connection();
  expect(await vault.read(c.hash, c.id)).toEqual({ pair: expect.objectContaining({ accessToken: 'a-1', refreshToken: 'r-1' }), version: 1, issuedAt: 1_000, pendingSince: null });
  await redis.hset(c.key, { rfv: 1, rft: 5_000 });
  expect((await vault.read(c.hash, c.id))!.pendingSince).toBe(5_000);
  await redis.hset(c.key, { rfv: 0 });
  expect((await vault.read(c.hash, c.id))!.pendingSince).toBeNull(); // a record of an older version
  await redis.hset(c.key, { rfv: 1 });
  await redis.hdel(c.key, 'rft');
  expect((await vault.read(c.hash, c.id))!.pendingSince).toBeNull();
  await redis.hdel(c.key, 'iat');
  expect((await vault.read(c.hash, c.id))!.issuedAt).toBe(0);
  expect(await vault.read(c.hash, 'none')).toBeNull();
  await redis.hdel(c.key, 'ver');
  expect(await vault.read(c.hash, c.id)).toBeNull();
});

test('read: a pair copied to another connection, or sealed with another key, is UnreadablePairError with its version', async () => {
  const a = await connection();
  const b = await connection();
  await redis.hset(b.key, { pair: await redis.hget(a.key, 'pair'), ver: 7 });
  const err = await vault.read(b.hash, b.id).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UnreadablePairError);
  expect((err as UnreadablePairError).version).toBe(7);
  expect((err as UnreadablePairError).name).toBe('UnreadablePairError');
  expect((err as UnreadablePairError).message).toBe('stored token pair cannot be opened');
  expect(String((err as UnreadablePairError).cause)).toMatch(/unable to authenticate data/);
});

test('beginRefresh: recorded in the connection and the index before Smartcar is called; a retry keeps the first time', async () => {
  const c = await connection();
  expect(await vault.beginRefresh(c.hash, c.id, 1, 10_000)).toBe(10_000);
  expect(await redis.hmget(c.key, 'rfv', 'rft')).toEqual(['1', '10000']);
  expect(await redis.zrange(keys.refreshPending(), 0, -1, 'WITHSCORES')).toEqual([`${c.hash}/${c.id}/1`, '10000']);
  // A retry of the same version: Smartcar's grace window started with the first attempt.
  expect(await vault.beginRefresh(c.hash, c.id, 1, 20_000)).toBe(10_000);
  expect(await redis.hget(c.key, 'rft')).toBe('10000');
  expect(await redis.zrange(keys.refreshPending(), 0, -1, 'WITHSCORES')).toEqual([`${c.hash}/${c.id}/1`, '10000']);
  // The version moved, or the connection is gone: null, nothing recorded.
  expect(await vault.beginRefresh(c.hash, c.id, 0, 30_000)).toBeNull();
  expect(await redis.hget(c.key, 'rft')).toBe('10000');
  expect(await vault.beginRefresh(c.hash, 'gone', 1, 30_000)).toBeNull();
});

test('settleRefresh: ends the record of that version only', async () => {
  const c = await connection();
  await vault.beginRefresh(c.hash, c.id, 1, 10_000);
  await vault.settleRefresh(c.hash, c.id, 0);
  expect(await redis.hmget(c.key, 'rfv', 'rft')).toEqual(['1', '10000']);
  await vault.settleRefresh(c.hash, c.id, 1);
  expect(await redis.hmget(c.key, 'rfv', 'rft')).toEqual([null, null]);
  expect(await redis.zcard(keys.refreshPending())).toBe(0);
  expect(await redis.hget(c.key, 'ver')).toBe('1');
});

test('pending: the oldest entries first, at most `limit`; a malformed entry is dropped from the index', async () => {
  const hash = 'h'.repeat(43);
  // Malformed: too short a hash, one character too many before or after, a version that is no number.
  const malformed = ['not/a-member', `${'x'.repeat(42)}/c/1`, `y${hash}/c/1`, `${hash}/c/1y`, `${hash}/c/y`];
  await redis.zadd(keys.refreshPending(), 3, `${hash}/c3/13`, 1, `${hash}/c1/1`, 4, `${hash}/c4/4`, ...malformed.flatMap((m, i) => [i / 10, m]));
  expect(await vault.pending(4 + malformed.length - 2)).toEqual([
    { sessionHash: hash, connectionId: 'c1', version: 1, member: `${hash}/c1/1` },
    { sessionHash: hash, connectionId: 'c3', version: 13, member: `${hash}/c3/13` },
  ]);
  expect(await redis.zrange(keys.refreshPending(), 0, -1)).toEqual([`${hash}/c1/1`, `${hash}/c3/13`, `${hash}/c4/4`]);
  expect((await vault.pending(1)).map((p) => p.connectionId)).toEqual(['c1']);
  await vault.forgetPending(`${hash}/c1/1`);
  expect((await vault.pending(10)).map((p) => p.connectionId)).toEqual(['c3', 'c4']);
});

test('replace: over the expected version only; ends the pending record; the connection lives as long as its refresh token, the session at least as long', async () => {
  const sessionExpires = Date.now() + DAY;
  const c = await connection(sessionExpires);
  await vault.beginRefresh(c.hash, c.id, 1, 10_000);
  const refreshExpiresAt = Date.now() + 60 * DAY;
  const second = pair('2', refreshExpiresAt);
  expect(await vault.replace(c.hash, c.id, 1, second, 20_000)).toEqual({ written: true, version: 2 });
  expect(await redis.hmget(c.key, 'ver', 'iat', 'rfv', 'rft')).toEqual(['2', '20000', null, null]);
  expect((await vault.read(c.hash, c.id))!.pair).toEqual(second);
  expect(await redis.pexpiretime(c.key)).toBe(refreshExpiresAt);
  expect(await redis.pexpiretime(keys.session(c.hash))).toBe(refreshExpiresAt);
  expect(await redis.hget(keys.session(c.hash), 'expires')).toBe(String(refreshExpiresAt));

  // A pair whose refresh token dies sooner than the session does not shorten the session.
  const shorter = Date.now() + 2 * 60_000;
  expect(await vault.replace(c.hash, c.id, 2, pair('3', shorter), 30_000)).toEqual({ written: true, version: 3 });
  expect(await redis.pexpiretime(c.key)).toBe(shorter);
  expect(await redis.pexpiretime(keys.session(c.hash))).toBe(refreshExpiresAt);
  expect(await redis.hget(keys.session(c.hash), 'expires')).toBe(String(refreshExpiresAt));

  expect(await vault.replace(c.hash, c.id, 2, pair('x'), 40_000)).toEqual({ written: false, reason: 'stale' });
  expect(await vault.replace(c.hash, 'gone', 1, pair('x'), 40_000)).toEqual({ written: false, reason: 'gone' });
  // A session that is gone is not recreated by a late write.
  await redis.del(keys.session(c.hash));
  expect(await vault.replace(c.hash, c.id, 3, pair('4'), 50_000)).toEqual({ written: true, version: 4 });
  expect(await redis.exists(keys.session(c.hash))).toBe(0);
});

test('removeIfVersion: removes the connection and its place in the session, unless a newer version is stored', async () => {
  const c = await connection();
  await redis.hset(keys.session(c.hash), 'c:other', 'ref');
  expect(await vault.removeIfVersion(c.hash, c.id, 2)).toBe(false);
  expect(await redis.exists(c.key)).toBe(1);
  expect(await vault.removeIfVersion(c.hash, c.id, 1)).toBe(true);
  expect(await redis.exists(c.key)).toBe(0);
  expect(await redis.hkeys(keys.session(c.hash))).toEqual(['expires', 'c:other']);
});

describe('locks with an owner', () => {
  test('acquire, refuse a second owner, release only by the owner, renew only while held', async () => {
    const key = `lock:${randomBytes(4).toString('hex')}`;
    const owner = await acquireLock(redis, key, 1_000);
    expect(owner).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await redis.pttl(key)).toBeGreaterThan(900);
    expect(await acquireLock(redis, key, 1_000)).toBeNull();
    expect(await releaseLock(redis, key, 'someone-else')).toBe(false);
    expect(await renewLock(redis, key, 'someone-else', 5_000)).toBe(false);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(1_000);
    expect(await renewLock(redis, key, owner!, 5_000)).toBe(true);
    expect(await redis.pttl(key)).toBeGreaterThan(4_000);
    expect(await releaseLock(redis, key, owner!)).toBe(true);
    expect(await redis.exists(key)).toBe(0);
    expect(await renewLock(redis, key, owner!, 5_000)).toBe(false);
    const next = await acquireLock(redis, key, 1_000);
    expect(next).not.toBe(owner);
  });

  test('withLease: renewed while the work runs, released after; null when held elsewhere; a lost lease aborts the work', async () => {
    const key = `lease:${randomBytes(4).toString('hex')}`;
    const ttls: number[] = [];
    // A 1 s lease renewed every 333 ms, over 2 s of work: a renewal may come 600 ms late (a loaded
    // machine) and the lease still holds.
    const done = await withLease(redis, key, 1_000, async (signal) => {
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 200));
        ttls.push(await redis.pttl(key));
      }
      return signal.aborted ? 'aborted' : 'ok';
    });
    expect(done).toEqual({ result: 'ok' }); // ran twice the lease: it was renewed
    expect(Math.min(...ttls)).toBeGreaterThan(0);
    expect(await redis.exists(key)).toBe(0);

    await redis.set(key, 'someone-else', 'PX', 5_000);
    let ran = false;
    expect(
      await withLease(redis, key, 300, async () => {
        ran = true;
      }),
    ).toBeNull();
    expect(ran).toBe(false);
    await redis.del(key);

    const lost = await withLease(redis, key, 150, async (signal) => {
      await redis.set(key, 'stolen');
      await new Promise((r) => setTimeout(r, 200));
      return signal.aborted;
    });
    expect(lost).toEqual({ result: true });
    expect(await redis.get(key)).toBe('stolen'); // not released: it was not ours any more
  }, 15_000);
});

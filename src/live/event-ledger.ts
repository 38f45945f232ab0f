import { createHash } from 'node:crypto';
import { keys, redisCall, type RedisClient } from '../redis';

/**
 * Which webhook events were applied, so that Smartcar's at-least-once delivery (the same `eventId` on
 * every retry, maybe on two instances at once) is applied once. An event is claimed for the time it
 * takes to apply it, then marked done for a week; a failed apply releases its claim so that Smartcar's
 * next retry applies it. A claim whose holder died expires on its own: that event's next retry
 * applies it. What this does not guarantee: a Redis that loses writes may let an event apply twice,
 * which the "newer readings only" rule makes harmless.
 */

export type Claim = 'claimed' | 'done' | 'in_progress';

const WEEK_MS = 7 * 86_400_000;

/** Claims, or says who has it: one round trip. */
const CLAIM = `
if redis.call('SET', KEYS[1], 'p', 'NX', 'PX', ARGV[1]) then return 'claimed' end
if redis.call('GET', KEYS[1]) == 'd' then return 'done' end
return 'in_progress'`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == 'p' then return redis.call('DEL', KEYS[1]) end
return 0`;

export class EventLedger {
  constructor(
    private readonly redis: RedisClient,
    /** How long a claim holds without being marked done (at least the time one event takes to apply). */
    private readonly claimMs = 30_000,
  ) {}

  /** Event ids are Smartcar's: hashed, so their length and characters cannot shape our keys. */
  private key(eventId: string): string {
    return keys.webhookEvent(createHash('sha256').update(eventId).digest('base64url').slice(0, 32));
  }

  async claim(eventId: string): Promise<Claim> {
    return (await redisCall(() => this.redis.eval(CLAIM, 1, this.key(eventId), this.claimMs))) as Claim;
  }

  async done(eventId: string): Promise<void> {
    await redisCall(() => this.redis.set(this.key(eventId), 'd', 'PX', WEEK_MS));
  }

  async release(eventId: string): Promise<void> {
    await redisCall(() => this.redis.eval(RELEASE, 1, this.key(eventId)));
  }
}

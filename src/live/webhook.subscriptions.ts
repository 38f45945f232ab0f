import { UpstreamError } from '../errors';
import type { Logger } from '../logger';
import { metrics } from '../metrics';
import { keys, redisCall, type RedisClient } from '../redis';
import type { Credential } from '../smartcar/smartcar.port';
import type { V3WebhookSubscriptions } from '../smartcar/v3.adapter';
import type { TokenCipher } from '../tokens/token.cipher';

/**
 * Vehicles connected in v3 mode are subscribed to SMARTCAR_WEBHOOK_ID, and unsubscribed when they
 * leave. Each change is a job in Redis before it is tried (a sorted set by when it is due, each job
 * sealed: it names the driver's Smartcar user id), so a failure, a crash or a deploy leaves it to be
 * retried by any instance, with backoff, until Smartcar has it or refuses it for good (the vehicle or
 * the webhook unknown, a malformed request). A job being tried is leased (its due time moved past
 * the attempt), so two instances never try one at once.
 */

export type SubscriptionOp = 'subscribe' | 'unsubscribe';

interface Job {
  op: SubscriptionOp;
  userId: string;
  vehicleId: string;
  /** Attempts so far. */
  n: number;
}

/** Runs a Smartcar call as the driver `userId` (the application token, renewed once after a 401). */
export type RunAsUser = <T>(userId: string, call: (credential: Credential) => Promise<T>) => Promise<T>;

export interface SubscriptionOptions {
  webhookId: string;
  /** How long a job is leased to the instance trying it (longer than a Smartcar call). */
  leaseMs: number;
  /** The first attempt, made while connecting, waits this long before the job is left to the background. */
  inlineWaitMs: number;
  /** First retry after this; doubling up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
}

/** The job set lives at least this long past its last write (jobs are retried for less). */
const SET_TTL_MS = 30 * 86_400_000;

/** KEYS: jobs. ARGV: member, now, lease until. Leases a due job; 0 if taken or gone. */
const CLAIM = `
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
return 1`;

/** KEYS: jobs. ARGV: old member, new member, due, ttl. Replaces a job with its next attempt. */
const RESCHEDULE = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`;

export class WebhookSubscriptions {
  private running: Promise<number> | null = null;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly cipher: TokenCipher,
    private readonly smartcar: V3WebhookSubscriptions,
    private readonly runAsUser: RunAsUser,
    private readonly options: SubscriptionOptions,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The driver's vehicles were connected: subscribe each. Resolves once the jobs are stored (and, briefly, tried). */
  subscribe(userId: string, vehicleIds: readonly string[]): Promise<void> {
    return this.change('subscribe', userId, vehicleIds);
  }

  unsubscribe(userId: string, vehicleIds: readonly string[]): Promise<void> {
    return this.change('unsubscribe', userId, vehicleIds);
  }

  private async change(op: SubscriptionOp, userId: string, vehicleIds: readonly string[]): Promise<void> {
    const leaseUntil = this.now() + this.options.leaseMs;
    const members = vehicleIds.map((vehicleId) => this.seal({ op, userId, vehicleId, n: 0 }));
    if (members.length === 0) return;
    // Stored leased to this instance, which tries them at once; a crash leaves them due after the lease.
    try {
      await redisCall(() =>
        this.redis
          .multi()
          .zadd(keys.webhookSubscriptionJobs(), ...members.flatMap((m) => [String(leaseUntil), m]))
          .pexpire(keys.webhookSubscriptionJobs(), SET_TTL_MS)
          .exec(),
      );
    } catch (err) {
      metrics.webhookSubscriptions.inc({ operation: op, outcome: 'dropped' }, members.length);
      this.logger.error({ op, vehicleIds, err: { name: (err as Error).name, message: (err as Error).message } }, 'webhook subscription change not stored (Redis unavailable): these vehicles must be (un)subscribed again');
      throw err;
    }
    const attempts = Promise.all(members.map((m) => this.attempt(m)));
    this.track(attempts);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([attempts, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.inlineWaitMs)))]).finally(() => clearTimeout(timer));
  }

  /** Tries every job that is due (any instance's); answers how many were tried. One round at a time. */
  runDue(): Promise<number> {
    this.running ??= (async () => {
      const due = await redisCall(() => this.redis.zrangebyscore(keys.webhookSubscriptionJobs(), '-inf', String(this.now()), 'LIMIT', 0, 50));
      let tried = 0;
      for (const member of due) {
        const leased = await redisCall(() => this.redis.eval(CLAIM, 1, keys.webhookSubscriptionJobs(), member, String(this.now()), String(this.now() + this.options.leaseMs)));
        if (leased !== 1) continue;
        tried++;
        const attempt = this.attempt(member);
        this.track(attempt);
        await attempt;
      }
      return tried;
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Waits for the attempts under way (a stop must not cut one off between Smartcar's answer and Redis). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlight, ...(this.running ? [this.running] : [])]);
  }

  private track(p: Promise<unknown>): void {
    const settled = p.catch(() => undefined);
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }

  /** One attempt at a leased job: done, or rescheduled, or dropped when Smartcar refuses it for good. Never throws. */
  private async attempt(member: string): Promise<void> {
    let job: Job;
    try {
      job = this.open(member);
    } catch {
      await redisCall(() => this.redis.zrem(keys.webhookSubscriptionJobs(), member)).catch(() => undefined);
      this.logger.error('a webhook subscription job cannot be opened (sealed with a key no longer configured): dropped');
      return;
    }
    const { webhookId } = this.options;
    try {
      await this.runAsUser(job.userId, (credential) =>
        job.op === 'subscribe' ? this.smartcar.subscribe(credential, webhookId, job.vehicleId) : this.smartcar.unsubscribe(credential, webhookId, job.vehicleId),
      );
      metrics.webhookSubscriptions.inc({ operation: job.op, outcome: 'done' });
      await redisCall(() => this.redis.zrem(keys.webhookSubscriptionJobs(), member)).catch(() => undefined); // done twice is harmless
    } catch (err) {
      const reason = err instanceof UpstreamError ? { status: err.status, type: err.details.type, code: err.details.code } : { name: (err as Error).name, message: (err as Error).message };
      if (isFinal(err)) {
        metrics.webhookSubscriptions.inc({ operation: job.op, outcome: 'dropped' });
        this.logger.error({ vehicleId: job.vehicleId, op: job.op, reason }, 'Smartcar refused a webhook subscription change for good: dropped');
        await redisCall(() => this.redis.zrem(keys.webhookSubscriptionJobs(), member)).catch(() => undefined);
        return;
      }
      metrics.webhookSubscriptions.inc({ operation: job.op, outcome: 'retry' });
      const delay = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** job.n);
      this.logger.warn({ vehicleId: job.vehicleId, op: job.op, reason, retryInMs: delay }, 'webhook subscription change failed: will retry');
      const next = this.seal({ ...job, n: job.n + 1 });
      await redisCall(() => this.redis.eval(RESCHEDULE, 1, keys.webhookSubscriptionJobs(), member, next, String(this.now() + delay), String(SET_TTL_MS))).catch(() => undefined);
    }
  }

  private seal(job: Job): string {
    return this.cipher.seal(JSON.stringify(job), keys.webhookSubscriptionJobs());
  }

  private open(member: string): Job {
    return JSON.parse(this.cipher.open(member, keys.webhookSubscriptionJobs())) as Job;
  }
}

/** Smartcar will never accept it: a malformed request, or no such vehicle, user or webhook. */
function isFinal(err: unknown): boolean {
  return err instanceof UpstreamError && err.kind === 'response' && (err.status === 400 || err.status === 403 || err.status === 404);
}

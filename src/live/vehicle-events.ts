import type { Logger } from '../logger';
import { keys, type RedisClient } from '../redis';

/**
 * "This vehicle of this session has newer readings", between gateway instances: Redis pub/sub on one
 * channel, one subscriber connection per process, dispatched here to the listeners of that session.
 * Pub/sub is fire-and-forget: a message published while an instance is not subscribed (restarting,
 * Redis reconnecting) is not seen there. Subscribers lose no data by it (the readings are in the cache;
 * the next event brings them all), only that one push.
 */

export interface VehicleUpdate {
  sessionHash: string;
  vehicleId: string;
}

export type Listener = (update: VehicleUpdate) => void;

export interface LiveLimits {
  perSession: number;
  perProcess: number;
}

export class TooManySubscriptions extends Error {}

export class VehicleEvents {
  /** sessionHash → its listeners in this process. */
  private readonly listeners = new Map<string, Set<Listener>>();
  private count = 0;
  private started: Promise<void> | null = null;

  constructor(
    private readonly publisher: RedisClient,
    /** A connection of its own (a subscribed connection can do nothing else), closed by stop(). */
    private readonly subscriber: RedisClient,
    private readonly limits: LiveLimits,
    private readonly logger: Logger,
  ) {}

  /** Subscribes this process to the channel (once); listeners get messages from then on. */
  start(): Promise<void> {
    this.started ??= (async () => {
      this.subscriber.on('error', (err: Error) => this.logger.warn({ err: { name: err.name, message: err.message } }, 'redis subscriber connection error'));
      this.subscriber.on('message', (channel: string, message: string) => {
        if (channel === this.channel()) this.dispatch(message);
      });
      // Lazily connected and without an offline queue: a command before the connection would fail.
      if (this.subscriber.status === 'wait') await this.subscriber.connect();
      await this.subscriber.subscribe(this.channel()); // and again after each reconnection (ioredis)
    })();
    return this.started;
  }

  /** The channel, with the client's key prefix (ioredis does not prefix channels). */
  private channel(): string {
    return `${this.publisher.options.keyPrefix ?? ''}${keys.vehicleUpdates()}`;
  }

  async publish(update: VehicleUpdate): Promise<void> {
    await this.publisher.publish(this.channel(), JSON.stringify([update.sessionHash, update.vehicleId]));
  }

  /**
   * Calls `listener` for each update of the session's vehicles; returns the unsubscribe function.
   * Throws TooManySubscriptions past the session's or the process's limit.
   */
  listen(sessionHash: string, listener: Listener): () => void {
    const mine = this.listeners.get(sessionHash) ?? new Set<Listener>();
    if (mine.size >= this.limits.perSession) throw new TooManySubscriptions(`At most ${this.limits.perSession} subscriptions per session.`);
    if (this.count >= this.limits.perProcess) throw new TooManySubscriptions('This gateway has too many subscriptions open. Try again later.');
    mine.add(listener);
    this.listeners.set(sessionHash, mine);
    this.count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      mine.delete(listener);
      this.count--;
      if (mine.size === 0 && this.listeners.get(sessionHash) === mine) this.listeners.delete(sessionHash);
    };
  }

  /** Listeners in this process (a metric). */
  get size(): number {
    return this.count;
  }

  private dispatch(message: string): void {
    let update: VehicleUpdate;
    try {
      const [sessionHash, vehicleId] = JSON.parse(message) as [unknown, unknown];
      if (typeof sessionHash !== 'string' || typeof vehicleId !== 'string') return;
      update = { sessionHash, vehicleId };
    } catch {
      return; // not ours
    }
    for (const listener of this.listeners.get(update.sessionHash) ?? []) {
      try {
        listener(update);
      } catch (err) {
        this.logger.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'vehicle update listener failed');
      }
    }
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    this.count = 0;
    this.subscriber.disconnect();
  }
}

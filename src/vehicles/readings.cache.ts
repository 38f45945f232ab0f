import { keys, redisCall, type RedisClient } from '../redis';
import type { Reading, SignalName } from './signal.registry';
import type { UnitSystem } from './signal.units';

/**
 * Billing-aware cache of vehicle readings, in the connection's hash
 * (`r<shape>:<vehicle>[:<units>]:<signal>`), so readings die with the connection. Each entry keeps
 * when the gateway received it; only successful readings are ever written. All the readings of one
 * connection are read and written in one call. The shape version is in the field name: entries of
 * another shape (an older gateway's, keyed by v2 path) are never read, so they are misses.
 */

/** Bump when CachedReading changes shape. */
export const READINGS_SHAPE = 2;

export interface CachedReading extends Reading {
  /** Epoch ms the gateway received it from Smartcar. */
  receivedAt: number;
}

/** One reading of one vehicle; permanent readings (attributes, VIN) carry no units. */
export interface ReadingRef {
  vehicleId: string;
  signal: SignalName;
  units: UnitSystem | null;
}

const PREFIX = `r${READINGS_SHAPE}:`;
const field = (r: ReadingRef) => (r.units ? `${PREFIX}${r.vehicleId}:${r.units}:${r.signal}` : `${PREFIX}${r.vehicleId}:${r.signal}`);

/** A field of this vehicle's readings, of any shape (`r:` was the first). */
const readingOf = (vehicleId: string) => (f: string) => /^r\d*:/.test(f) && f.slice(f.indexOf(':') + 1).startsWith(`${vehicleId}:`);

/** What Redis held, if it is a reading of this shape; anything else is a miss. */
function parse(raw: string | null): CachedReading | null {
  if (!raw) return null;
  try {
    const r = JSON.parse(raw) as Partial<CachedReading> | null;
    return r && typeof r.values === 'object' && r.values !== null && typeof r.receivedAt === 'number' ? (r as CachedReading) : null;
  } catch {
    return null;
  }
}

/** Writes only into a connection that still exists (a disconnect must not be undone by a late write). */
const SET_IF_EXISTS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`;

export class ReadingsCache {
  constructor(private readonly redis: RedisClient) {}

  /** The cached readings among `refs`, in their order (null where none). */
  async get(sessionHash: string, connectionId: string, refs: ReadingRef[]): Promise<(CachedReading | null)[]> {
    if (refs.length === 0) return [];
    const raw = await redisCall(() => this.redis.hmget(keys.connection(sessionHash, connectionId), ...refs.map(field)));
    return raw.map(parse);
  }

  async set(sessionHash: string, connectionId: string, entries: [ReadingRef, CachedReading][]): Promise<void> {
    if (entries.length === 0) return;
    const args = entries.flatMap(([ref, r]) => [field(ref), JSON.stringify(r)]);
    await redisCall(() => this.redis.eval(SET_IF_EXISTS, 1, keys.connection(sessionHash, connectionId), ...args));
  }

  /** After a command: these readings are no longer true. Both unit systems go. */
  async invalidate(sessionHash: string, connectionId: string, vehicleId: string, signals: readonly SignalName[]): Promise<void> {
    const fields = signals.flatMap((signal) => [field({ vehicleId, signal, units: 'metric' }), field({ vehicleId, signal, units: 'imperial' })]);
    await redisCall(() => this.redis.hdel(keys.connection(sessionHash, connectionId), ...fields));
  }

  /** Every cached reading of a vehicle, whatever its shape (it left the session). */
  async forget(sessionHash: string, connectionId: string, vehicleId: string): Promise<void> {
    const key = keys.connection(sessionHash, connectionId);
    const fields = (await redisCall(() => this.redis.hkeys(key))).filter(readingOf(vehicleId));
    if (fields.length) await redisCall(() => this.redis.hdel(key, ...fields));
  }
}

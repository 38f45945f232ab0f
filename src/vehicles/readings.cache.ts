import { keys, redisCall, type RedisClient } from '../redis';
import type { Reading, UnitSystem } from '../smartcar/smartcar.client';

/**
 * Billing-aware cache of vehicle readings, in the connection's hash (`r:<vehicle>[:<units>]:<path>`),
 * so readings die with the connection. Each entry keeps when the gateway received it; only successful
 * readings are ever written. All the readings of one connection are read and written in one call.
 */

export interface CachedReading extends Reading {
  /** Epoch ms the gateway received it from Smartcar. */
  receivedAt: number;
}

/** One reading of one vehicle; permanent readings (attributes, VIN) carry no units. */
export interface ReadingRef {
  vehicleId: string;
  path: string;
  units: UnitSystem | null;
}

const field = (r: ReadingRef) => (r.units ? `r:${r.vehicleId}:${r.units}:${r.path}` : `r:${r.vehicleId}:${r.path}`);

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
    return raw.map((r) => (r ? (JSON.parse(r) as CachedReading) : null));
  }

  async set(sessionHash: string, connectionId: string, entries: [ReadingRef, CachedReading][]): Promise<void> {
    if (entries.length === 0) return;
    const args = entries.flatMap(([ref, r]) => [field(ref), JSON.stringify(r)]);
    await redisCall(() => this.redis.eval(SET_IF_EXISTS, 1, keys.connection(sessionHash, connectionId), ...args));
  }

  /** After a command: these readings are no longer true. Both unit systems go. */
  async invalidate(sessionHash: string, connectionId: string, vehicleId: string, paths: readonly string[]): Promise<void> {
    const fields = paths.flatMap((path) => [field({ vehicleId, path, units: 'metric' }), field({ vehicleId, path, units: 'imperial' })]);
    await redisCall(() => this.redis.hdel(keys.connection(sessionHash, connectionId), ...fields));
  }

  /** Every cached reading of a vehicle (it left the session). */
  async forget(sessionHash: string, connectionId: string, vehicleId: string): Promise<void> {
    const key = keys.connection(sessionHash, connectionId);
    const fields = (await redisCall(() => this.redis.hkeys(key))).filter((f) => f.startsWith(`r:${vehicleId}:`));
    if (fields.length) await redisCall(() => this.redis.hdel(key, ...fields));
  }
}

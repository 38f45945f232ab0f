import type { RedisClient } from '../redis';
import { keys, redisCall } from '../redis';
import type { Reading, UnitSystem } from '../smartcar/smartcar.client';

/**
 * Billing-aware cache of vehicle readings, in the connection's hash (`r:<vehicle>:<units>:<path>`),
 * so readings die with the connection. Each entry keeps when the gateway received it; only successful
 * readings are ever written.
 */

export interface CachedReading extends Reading {
  /** Epoch ms the gateway received it from Smartcar. */
  receivedAt: number;
}

/** Permanent readings (attributes, VIN) carry no units. */
const field = (vehicleId: string, units: UnitSystem | null, path: string) => (units ? `r:${vehicleId}:${units}:${path}` : `r:${vehicleId}:${path}`);

export interface PathUnits {
  path: string;
  units: UnitSystem | null;
}

/** Writes only into a connection that still exists (a disconnect must not be undone by a late write). */
const SET_IF_EXISTS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`;

export class ReadingsCache {
  constructor(private readonly redis: RedisClient) {}

  async get(sessionHash: string, connectionId: string, vehicleId: string, paths: PathUnits[]): Promise<Map<string, CachedReading>> {
    const raw = await redisCall(() => this.redis.hmget(keys.connection(sessionHash, connectionId), ...paths.map((p) => field(vehicleId, p.units, p.path))));
    const out = new Map<string, CachedReading>();
    raw.forEach((r, i) => r && out.set(paths[i]!.path, JSON.parse(r) as CachedReading));
    return out;
  }

  async set(sessionHash: string, connectionId: string, vehicleId: string, readings: [PathUnits, CachedReading][]): Promise<void> {
    if (readings.length === 0) return;
    const args = readings.flatMap(([p, r]) => [field(vehicleId, p.units, p.path), JSON.stringify(r)]);
    await redisCall(() => this.redis.eval(SET_IF_EXISTS, 1, keys.connection(sessionHash, connectionId), ...args));
  }

  /** After a command: these readings are no longer true. Both unit systems go. */
  async invalidate(sessionHash: string, connectionId: string, vehicleId: string, paths: readonly string[]): Promise<void> {
    const fields = paths.flatMap((p) => [field(vehicleId, 'metric', p), field(vehicleId, 'imperial', p)]);
    await redisCall(() => this.redis.hdel(keys.connection(sessionHash, connectionId), ...fields));
  }

  /** Every cached reading of a vehicle (it left the session). */
  async forget(sessionHash: string, connectionId: string, vehicleId: string): Promise<void> {
    const key = keys.connection(sessionHash, connectionId);
    const fields = (await redisCall(() => this.redis.hkeys(key))).filter((f) => f.startsWith(`r:${vehicleId}:`));
    if (fields.length) await redisCall(() => this.redis.hdel(key, ...fields));
  }
}

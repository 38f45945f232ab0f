import type Redis from 'ioredis';
import { keys, redisCall } from '../redis';
import type { VehicleAttributes } from '../smartcar/smartcar.client';

/**
 * Make, model and year never change: they are cached in the connection's own hash (`a:<vehicleId>`),
 * so they live exactly as long as the connection and vanish with it.
 */

/** Writes only into a connection that still exists (a disconnect must not be undone by a late write). */
const SET_IF_EXISTS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`;

export class AttributesCache {
  constructor(private readonly redis: Redis) {}

  async get(sessionHash: string, connectionId: string, vehicleIds: string[]): Promise<(VehicleAttributes | null)[]> {
    const raw = await redisCall(() => this.redis.hmget(keys.connection(sessionHash, connectionId), ...vehicleIds.map((id) => `a:${id}`)));
    return raw.map((r) => (r ? (JSON.parse(r) as VehicleAttributes) : null));
  }

  async set(sessionHash: string, connectionId: string, attributes: VehicleAttributes[]): Promise<void> {
    if (attributes.length === 0) return;
    const args = attributes.flatMap((a) => [`a:${a.id}`, JSON.stringify({ id: a.id, make: a.make, model: a.model, year: a.year })]);
    await redisCall(() => this.redis.eval(SET_IF_EXISTS, 1, keys.connection(sessionHash, connectionId), ...args));
  }
}

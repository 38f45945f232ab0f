import { keys, redisCall, type RedisClient } from '../redis';

/**
 * Which sessions' connections reach a vehicle, so that a webhook about the vehicle (which names the
 * vehicle, not a session) warms every cache that serves it: a set per vehicle of
 * `<sessionHash>/<connectionId>`, kept as long as the longest connection in it. Written when a
 * connection's vehicles are recorded, trimmed when a vehicle leaves a session. A member whose
 * connection is gone by other means (a sign-out elsewhere, expiry) is dropped when a webhook finds it
 * so; it never reaches anything, since writes go only into connections that still exist.
 */

export interface IndexedConnection {
  sessionHash: string;
  connectionId: string;
}

/** Smartcar vehicle ids are UUIDs; anything else is not indexed (and so never found). */
const VEHICLE_ID = /^[A-Za-z0-9-]{1,128}$/;

const member = (c: IndexedConnection) => `${c.sessionHash}/${c.connectionId}`;

/** KEYS: the vehicle's set. ARGV: member, ms the connection lives from now. The set lives as long as its longest member. */
const ADD = `
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;

export class VehicleIndex {
  constructor(private readonly redis: RedisClient) {}

  /** `connection` reaches these vehicles until `untilMs`. */
  async add(vehicleIds: readonly string[], connection: IndexedConnection, untilMs: number): Promise<void> {
    const ids = vehicleIds.filter((v) => VEHICLE_ID.test(v));
    await Promise.all(ids.map((v) => redisCall(() => this.redis.eval(ADD, 1, keys.vehicleIndex(v), member(connection), String(Math.max(1, Math.round(untilMs - Date.now())))))));
  }

  async remove(vehicleIds: readonly string[], connection: IndexedConnection): Promise<void> {
    const ids = vehicleIds.filter((v) => VEHICLE_ID.test(v));
    await Promise.all(ids.map((v) => redisCall(() => this.redis.srem(keys.vehicleIndex(v), member(connection)))));
  }

  /** Every connection recorded as reaching the vehicle. */
  async connectionsOf(vehicleId: string): Promise<IndexedConnection[]> {
    if (!VEHICLE_ID.test(vehicleId)) return [];
    const members = await redisCall(() => this.redis.smembers(keys.vehicleIndex(vehicleId)));
    return members.flatMap((m) => {
      const slash = m.indexOf('/');
      return slash > 0 ? [{ sessionHash: m.slice(0, slash), connectionId: m.slice(slash + 1) }] : [];
    });
  }
}

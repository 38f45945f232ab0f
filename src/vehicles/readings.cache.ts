import type { SmartcarDetails } from '../errors';
import { keys, redisCall, type RedisClient } from '../redis';
import { SIGNALS, type Reading, type SignalName } from './signal.registry';
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
  /**
   * What Smartcar reported instead of a value (a webhook's `VEHICLE_ERROR`, or a signal in error in a
   * `VEHICLE_STATE`): read like a reading, answered as that error. Never written from a read's failure.
   */
  failure?: CachedFailure;
}

export interface CachedFailure {
  /** The HTTP status Smartcar gives the error's type. */
  status: number | null;
  details: SmartcarDetails;
}

/** One reading of one vehicle; permanent readings (attributes, VIN) carry no units. */
export interface ReadingRef {
  vehicleId: string;
  signal: SignalName;
  units: UnitSystem | null;
}

/** The cache entry of a signal: in the configured units, except permanent readings, which have none. */
export const readingRef = (vehicleId: string, signal: SignalName, units: UnitSystem): ReadingRef => ({ vehicleId, signal, units: SIGNALS[signal].permanent ? null : units });

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

/**
 * Writes each reading only where it is newer than the one held (by `dataAge`, the vehicle's own time),
 * into a connection that still exists; answers the fields written (-1: no such connection). ARGV: field, JSON, dataAge ('' when
 * unknown, `failure` for an error Smartcar reported), repeated. A reading of unknown age replaces only a
 * reading of unknown age or none; one held with an unknown age (an error among them) is replaced by any
 * dated one; an error replaces whatever is held (it is news of now: the car's clock does not date it).
 * Deliveries out of order, retries and two instances therefore never move a reading back.
 */
const SET_IF_NEWER = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local written = {}
for i = 1, #ARGV, 3 do
  local field, json, age = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local held = redis.call('HGET', KEYS[1], field)
  local newer = true
  if held and ARGV[i + 2] ~= 'failure' then
    local ok, cur = pcall(cjson.decode, held)
    local heldAge = ok and type(cur) == 'table' and type(cur.dataAge) == 'number' and cur.dataAge or nil
    if heldAge then newer = age ~= nil and age > heldAge end
  end
  if newer then
    redis.call('HSET', KEYS[1], field, json)
    written[#written + 1] = field
  end
end
return written`;

/** KEYS: the connection. ARGV: fields. Deletes those that hold a failure; answers them. */
const CLEAR_FAILURES = `
local cleared = {}
for i = 1, #ARGV do
  local held = redis.call('HGET', KEYS[1], ARGV[i])
  if held then
    local ok, cur = pcall(cjson.decode, held)
    if ok and type(cur) == 'table' and type(cur.failure) == 'table' then
      redis.call('HDEL', KEYS[1], ARGV[i])
      cleared[#cleared + 1] = ARGV[i]
    end
  end
end
return cleared`;

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

  /**
   * Readings that arrived by themselves (a webhook): each written only if newer than the one held.
   * Answers the refs written, or null when the connection is gone (nothing written).
   */
  async setIfNewer(sessionHash: string, connectionId: string, entries: [ReadingRef, CachedReading][]): Promise<ReadingRef[] | null> {
    if (entries.length === 0) return [];
    const args = entries.flatMap(([ref, r]) => [field(ref), JSON.stringify(r), r.failure ? 'failure' : r.dataAge === null ? '' : String(r.dataAge)]);
    const reply = (await redisCall(() => this.redis.eval(SET_IF_NEWER, 1, keys.connection(sessionHash, connectionId), ...args))) as string[] | number;
    if (typeof reply === 'number') return null;
    const written = new Set(reply);
    return entries.filter(([ref]) => written.has(field(ref))).map(([ref]) => ref);
  }

  /** Smartcar says these errors are resolved: the failures held for them go (readings stay). Answers the refs cleared. */
  async clearFailures(sessionHash: string, connectionId: string, refs: ReadingRef[]): Promise<ReadingRef[]> {
    if (refs.length === 0) return [];
    const cleared = new Set((await redisCall(() => this.redis.eval(CLEAR_FAILURES, 1, keys.connection(sessionHash, connectionId), ...refs.map(field)))) as string[]);
    return refs.filter((r) => cleared.has(field(r)));
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

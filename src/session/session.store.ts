import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis';
import { keys, prefixOf, redisCall } from '../redis';
import { VehicleIndex } from '../live/vehicle-index';
import type { ApiVersion } from '../smartcar/smartcar.port';
import { hashSessionToken, newSessionToken } from './session.token';

/**
 * Sessions in Redis: `sess:{hash}` is a hash with `created`, `expires`, `cookieExpires` (the expiry
 * the `sid` cookie was last given) and one `c:<connectionId>` field per Smartcar connection (its
 * user, vehicles and permissions). `expires` moves when a car is connected and on every refresh. The connection's own key holds
 * the sealed token pair (see TokenVault) and cached readings. States issued by connectUrl live in a
 * sorted set beside them (state → expiry), single-use, 10 minutes.
 */

export interface ConnectionRef {
  id: string;
  /** Smartcar user id; null until the connection's vehicles were listed. */
  userId: string | null;
  /** null: the exchange succeeded but listing the vehicles did not (yet). */
  vehicleIds: string[] | null;
  /** The permissions the driver granted; null until listed (then Smartcar itself enforces them). */
  scopes: string[] | null;
  createdAt: number;
  /** The Smartcar API that serves it; absent: 2 (a token pair). A v3 connection holds no token. */
  api?: ApiVersion;
}

export interface Session {
  hash: string;
  createdAt: number;
  expiresAt: number;
  /** The expiry the `sid` cookie was last given (0: never recorded); behind `expiresAt`, it is stale. */
  cookieExpiresAt: number;
  /** Oldest first. */
  connections: ConnectionRef[];
  /** Until when (epoch ms) a live subscription of this session may be open on some instance; 0: none. */
  liveUntil?: number;
}

export const STATE_TTL_MS = 10 * 60 * 1000;
const STATE_SHAPE = /^[A-Za-z0-9_-]{16,128}$/;

/**
 * Seals a v3 connection's Smartcar user id (with the application token it reaches the driver's cars,
 * so it is a credential): bound to its session and connection. A v2 user id opens nothing by itself.
 */
export interface UserIdSealer {
  seal(plaintext: string, aad: string): string;
  open(sealed: string, aad: string): string;
}

const userAad = (hash: string, connectionId: string) => `${keys.session(hash)}/c:${connectionId}`;

interface StoredRef {
  userId: string | null;
  /** v3: the user id, sealed (then `userId` is null). */
  user?: string;
  vehicleIds: string[] | null;
  scopes?: string[] | null;
  createdAt: number;
  api?: ApiVersion;
}

function parseConnections(hash: string, fields: Record<string, string>, sealer: UserIdSealer | null): ConnectionRef[] {
  const out: ConnectionRef[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (!field.startsWith('c:')) continue;
    const id = field.slice(2);
    const v = JSON.parse(value) as StoredRef;
    const userId = v.user !== undefined && sealer ? sealer.open(v.user, userAad(hash, id)) : v.userId;
    out.push({ id, userId, vehicleIds: v.vehicleIds, scopes: v.scopes ?? null, createdAt: v.createdAt, ...(v.api === 3 && { api: 3 as const }) });
  }
  return out.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

function refValue(hash: string, c: ConnectionRef, sealer: UserIdSealer | null): string {
  const sealUser = c.api === 3 && c.userId !== null && sealer !== null;
  const stored: StoredRef = {
    userId: sealUser ? null : c.userId,
    ...(sealUser && { user: sealer.seal(c.userId!, userAad(hash, c.id)) }),
    vehicleIds: c.vehicleIds,
    scopes: c.scopes,
    createdAt: c.createdAt,
    ...(c.api === 3 && { api: 3 as const }),
  };
  return JSON.stringify(stored);
}

export class SessionStore {
  /** Which connections reach each vehicle (for webhooks): kept beside the sessions, best effort. */
  readonly index: VehicleIndex;

  constructor(
    private readonly redis: RedisClient,
    /** Seals v3 user ids at rest (the token cipher); null only where no v3 connection is stored. */
    private readonly sealer: UserIdSealer | null = null,
    private readonly now: () => number = Date.now,
  ) {
    this.index = new VehicleIndex(redis);
  }

  async create(ttlSec: number): Promise<{ token: string; session: Session }> {
    const token = newSessionToken();
    const hash = hashSessionToken(token);
    const createdAt = this.now();
    const expiresAt = createdAt + ttlSec * 1000;
    await redisCall(() =>
      this.redis.multi().hset(keys.session(hash), { created: createdAt, expires: expiresAt, cookieExpires: expiresAt }).pexpireat(keys.session(hash), expiresAt).exec(),
    );
    return { token, session: { hash, createdAt, expiresAt, cookieExpiresAt: expiresAt, connections: [] } };
  }

  async load(hash: string): Promise<Session | null> {
    const fields = await redisCall(() => this.redis.hgetall(keys.session(hash)));
    if (!fields.created || !fields.expires) return null;
    const expiresAt = Number(fields.expires);
    if (expiresAt <= this.now()) return null;
    return {
      hash,
      createdAt: Number(fields.created),
      expiresAt,
      cookieExpiresAt: Number(fields.cookieExpires ?? 0),
      connections: parseConnections(hash, fields, this.sealer),
      ...(fields.live && { liveUntil: Number(fields.live) }),
    };
  }

  /**
   * A live subscription of this session is open until at least `untilMs` (renewed while it stays
   * open): readings fetched for the session are then announced to it. Only forward; never on a
   * session that is gone.
   */
  async markLive(hash: string, untilMs: number): Promise<void> {
    await redisCall(() => this.redis.eval(MARK_LIVE, 1, keys.session(hash), String(untilMs)));
  }

  /** Records that the cookie now says `expiresAt`; never on a session that is gone (no key without TTL). */
  async recordCookieExpiry(hash: string, expiresAt: number): Promise<void> {
    await redisCall(() => this.redis.eval(RECORD_COOKIE_EXPIRY, 1, keys.session(hash), String(expiresAt)));
  }

  /**
   * A fresh single-use state; with `externalId` (v3's Connect), kept beside it and handed back when
   * the state is consumed. The external ids of expired states stay until the last state of the
   * session expires (the hash shares the set's TTL): unusable, since their states are gone.
   */
  async issueState(hash: string, externalId?: string): Promise<string> {
    const state = randomBytes(18).toString('base64url');
    const now = this.now();
    const tx = this.redis
      .multi()
      .zremrangebyscore(keys.states(hash), '-inf', now) // expired ones
      .zadd(keys.states(hash), now + STATE_TTL_MS, state)
      .pexpire(keys.states(hash), STATE_TTL_MS);
    if (externalId !== undefined) tx.hset(keys.stateExternalIds(hash), state, externalId).pexpire(keys.stateExternalIds(hash), STATE_TTL_MS);
    await redisCall(() => tx.exec());
    return state;
  }

  /** True once for a state this session was issued in the last 10 minutes; false for anything else. */
  async consumeState(hash: string, state: string): Promise<boolean> {
    return (await this.takeState(hash, state)) !== null;
  }

  /** consumeState, with the external id issued with the state (null: none was). */
  async takeState(hash: string, state: string): Promise<{ externalId: string | null } | null> {
    if (!STATE_SHAPE.test(state)) return null;
    const [expiry, externalId] = (await redisCall(() => this.redis.eval(CONSUME_STATE, 2, keys.states(hash), keys.stateExternalIds(hash), state))) as [string | null, string | null];
    return expiry !== null && Number(expiry) > this.now() ? { externalId: externalId ?? null } : null;
  }

  /** Removes a vehicle from its connection; a connection left without vehicles (or already without
   * tokens) is deleted. */
  async removeVehicle(session: Session, ref: ConnectionRef, vehicleId: string): Promise<Session> {
    const remaining: ConnectionRef = { ...ref, vehicleIds: (ref.vehicleIds ?? []).filter((v) => v !== vehicleId) };
    const h = session.hash;
    const kept = await redisCall(() =>
      this.redis.eval(
        REMOVE_VEHICLE,
        4,
        keys.session(h),
        keys.connection(h, ref.id),
        keys.refreshLock(h, ref.id),
        keys.refreshCooldown(h, ref.id),
        `c:${ref.id}`,
        remaining.vehicleIds!.length ? refValue(h, remaining, this.sealer) : '',
      ),
    );
    await this.index.remove([vehicleId], { sessionHash: h, connectionId: ref.id }).catch(() => undefined);
    const connections = session.connections.flatMap((c) => (c.id !== ref.id ? [c] : Number(kept) === 1 ? [remaining] : []));
    return { ...session, connections };
  }

  /**
   * Sign-out: the session and everything it holds, in one script (one hash slot). The connections are
   * read inside the script, so one attached a moment ago by another request goes too.
   */
  async destroy(session: Session): Promise<void> {
    const h = session.hash;
    const connectionPrefix = `${prefixOf(this.redis)}${keys.connection(h, '')}`;
    await redisCall(() => this.redis.eval(DESTROY, 4, keys.session(h), keys.states(h), keys.sessionRate(h), keys.stateExternalIds(h), connectionPrefix));
    await Promise.all(session.connections.map((c) => this.index.remove(c.vehicleIds ?? [], { sessionHash: h, connectionId: c.id }))).catch(() => undefined);
  }

  /**
   * Stores a new connection and its sealed pair atomically (one script, one hash slot), and stretches
   * the session's life to the refresh token's. Returns the session as it now is, or null when the
   * session was deleted meanwhile (a sign-out must not be undone by a late exchange).
   */
  async attach(session: Session, ref: ConnectionRef, sealedPair: string | null, refreshExpiresAt: number): Promise<Session | null> {
    const expiresAt = Math.max(session.expiresAt, refreshExpiresAt);
    const ok = await redisCall(() =>
      this.redis.eval(
        ATTACH,
        2,
        keys.session(session.hash),
        keys.connection(session.hash, ref.id),
        `c:${ref.id}`,
        refValue(session.hash, ref, this.sealer),
        sealedPair ?? '',
        String(refreshExpiresAt),
        String(expiresAt),
        String(this.now()),
      ),
    );
    if (ok !== 1) return null;
    return { ...session, expiresAt, connections: [...session.connections, ref] };
  }

  /**
   * Records a connection's user and vehicles, and drops older connections of the same Smartcar user
   * (a second Connect of the same account supersedes the first: its pair is the newer one).
   */
  async describe(session: Session, ref: ConnectionRef): Promise<Session | null> {
    const superseded = session.connections.filter((c) => c.id !== ref.id && c.userId !== null && c.userId === ref.userId);
    const connectionKeys = superseded.map((c) => keys.connection(session.hash, c.id));
    const ok = await redisCall(() =>
      this.redis.eval(DESCRIBE, 1 + connectionKeys.length, keys.session(session.hash), ...connectionKeys, `c:${ref.id}`, refValue(session.hash, ref, this.sealer), ...superseded.map((c) => `c:${c.id}`)),
    );
    if (ok !== 1) return null;
    // Best effort: without it, only webhooks miss this connection (its reads still reach Smartcar).
    await Promise.all([
      this.index.add(ref.vehicleIds ?? [], { sessionHash: session.hash, connectionId: ref.id }, session.expiresAt),
      ...superseded.map((c) => this.index.remove(c.vehicleIds ?? [], { sessionHash: session.hash, connectionId: c.id })),
    ]).catch(() => undefined);
    const gone = new Set(superseded.map((c) => c.id));
    return { ...session, connections: session.connections.filter((c) => !gone.has(c.id)).map((c) => (c.id === ref.id ? ref : c)) };
  }
}

/** KEYS: session. ARGV: cookie expiry. Only forward: a slower request cannot record an older one. */
const RECORD_COOKIE_EXPIRY = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'cookieExpires') or '0') >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'cookieExpires', ARGV[1])
return 1`;

/** KEYS: session. ARGV: until (epoch ms). */
const MARK_LIVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'live') or '0') >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'live', ARGV[1])
return 1`;

/** KEYS: states, their external ids. ARGV: state. Returns {expiry, external id} and removes both (single use). */
const CONSUME_STATE = `
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
local externalId = redis.call('HGET', KEYS[2], ARGV[1])
if expiry then redis.call('ZREM', KEYS[1], ARGV[1]) end
if externalId then redis.call('HDEL', KEYS[2], ARGV[1]) end
return {expiry, externalId}`;

/** KEYS: session, connection, its lock, its cooldown. ARGV: field, new ref ('' = delete). */
const REMOVE_VEHICLE = `
if ARGV[2] == '' or redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/** KEYS: session, states, rate counter, states' external ids. ARGV: the (prefixed) key of a connection without its id. */
const DESTROY = `
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 2) == 'c:' then
    local k = ARGV[1] .. string.sub(f, 3)
    redis.call('DEL', k, k .. ':lock', k .. ':cooldown')
  end
end
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])`;

/**
 * KEYS: session, connection. ARGV: field, ref, sealed pair ('' for a v3 connection, which holds no
 * token: only its readings, and no 'iat', so the refresh sweep never takes it for a pair), connection
 * expiry, session expiry, issued at (ms).
 */
const ATTACH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[3] == '' then redis.call('HSET', KEYS[2], 'api', 3, 'at', ARGV[6])
else redis.call('HSET', KEYS[2], 'pair', ARGV[3], 'ver', 1, 'iat', ARGV[6]) end
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], 'expires', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1`;

/** KEYS: session, then superseded connections. ARGV: field, ref, then the superseded fields. */
const DESCRIBE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 3, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1`;

import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { keys, redisCall } from '../redis';
import { hashSessionToken, newSessionToken } from './session.token';

/**
 * Sessions in Redis: `sess:{hash}` is a hash with `created`, `expires` and one `c:<connectionId>`
 * field per Smartcar connection (its user and vehicles). The connection's own key holds the sealed
 * token pair (see TokenVault). States issued by connectUrl live beside them, single-use, 10 minutes.
 */

export interface ConnectionRef {
  id: string;
  /** Smartcar user id; null until the connection's vehicles were listed. */
  userId: string | null;
  /** null: the exchange succeeded but listing the vehicles did not (yet). */
  vehicleIds: string[] | null;
  createdAt: number;
}

export interface Session {
  hash: string;
  createdAt: number;
  expiresAt: number;
  /** Oldest first. */
  connections: ConnectionRef[];
}

export const STATE_TTL_MS = 10 * 60 * 1000;
const STATE_SHAPE = /^[A-Za-z0-9_-]{16,128}$/;

function parseConnections(fields: Record<string, string>): ConnectionRef[] {
  const out: ConnectionRef[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (!field.startsWith('c:')) continue;
    const v = JSON.parse(value) as Omit<ConnectionRef, 'id'>;
    out.push({ id: field.slice(2), userId: v.userId, vehicleIds: v.vehicleIds, createdAt: v.createdAt });
  }
  return out.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

const refValue = (c: ConnectionRef) => JSON.stringify({ userId: c.userId, vehicleIds: c.vehicleIds, createdAt: c.createdAt });

export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {}

  async create(ttlSec: number): Promise<{ token: string; session: Session }> {
    const token = newSessionToken();
    const hash = hashSessionToken(token);
    const createdAt = this.now();
    const expiresAt = createdAt + ttlSec * 1000;
    await redisCall(() =>
      this.redis.multi().hset(keys.session(hash), { created: createdAt, expires: expiresAt }).pexpireat(keys.session(hash), expiresAt).exec(),
    );
    return { token, session: { hash, createdAt, expiresAt, connections: [] } };
  }

  async load(hash: string): Promise<Session | null> {
    const fields = await redisCall(() => this.redis.hgetall(keys.session(hash)));
    if (!fields.created || !fields.expires) return null;
    const expiresAt = Number(fields.expires);
    if (expiresAt <= this.now()) return null;
    return { hash, createdAt: Number(fields.created), expiresAt, connections: parseConnections(fields) };
  }

  async issueState(hash: string): Promise<string> {
    const state = randomBytes(18).toString('base64url');
    await redisCall(() => this.redis.set(keys.state(hash, state), '1', 'PX', STATE_TTL_MS));
    return state;
  }

  /** True once for a state this session was issued in the last 10 minutes; false for anything else. */
  async consumeState(hash: string, state: string): Promise<boolean> {
    if (!STATE_SHAPE.test(state)) return false;
    return (await redisCall(() => this.redis.getdel(keys.state(hash, state)))) === '1';
  }

  /**
   * Stores a new connection and its sealed pair atomically (one script, one hash slot), and stretches
   * the session's life to the refresh token's. Returns the session as it now is, or null when the
   * session was deleted meanwhile (a sign-out must not be undone by a late exchange).
   */
  async attach(session: Session, ref: ConnectionRef, sealedPair: string, refreshExpiresAt: number): Promise<Session | null> {
    const expiresAt = Math.max(session.expiresAt, refreshExpiresAt);
    const ok = await redisCall(() =>
      this.redis.eval(
        ATTACH,
        2,
        keys.session(session.hash),
        keys.connection(session.hash, ref.id),
        `c:${ref.id}`,
        refValue(ref),
        sealedPair,
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
      this.redis.eval(DESCRIBE, 1 + connectionKeys.length, keys.session(session.hash), ...connectionKeys, `c:${ref.id}`, refValue(ref), ...superseded.map((c) => `c:${c.id}`)),
    );
    if (ok !== 1) return null;
    const gone = new Set(superseded.map((c) => c.id));
    return { ...session, connections: session.connections.filter((c) => !gone.has(c.id)).map((c) => (c.id === ref.id ? ref : c)) };
  }
}

/** KEYS: session, connection. ARGV: field, ref, sealed pair, connection expiry, session expiry, issued at (ms). */
const ATTACH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'pair', ARGV[3], 'ver', 1, 'iat', ARGV[6])
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

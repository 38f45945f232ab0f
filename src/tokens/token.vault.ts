import type Redis from 'ioredis';
import { keys, redisCall } from '../redis';
import type { TokenPair } from '../smartcar/smartcar.client';
import type { TokenCipher } from './token.cipher';

/**
 * The token pairs of connections, sealed with AES-256-GCM in the connection's hash (`pair`, with a
 * `ver` that every write increments). Nothing outside this module sees a sealed or raw pair in Redis.
 */

export interface StoredPair {
  pair: TokenPair;
  version: number;
}

export class TokenVault {
  constructor(
    private readonly redis: Redis,
    private readonly cipher: TokenCipher,
  ) {}

  /** The connection key is the additional data: a sealed pair only opens where it was written. */
  seal(sessionHash: string, connectionId: string, pair: TokenPair): string {
    return this.cipher.seal(JSON.stringify(pair), keys.connection(sessionHash, connectionId));
  }

  async read(sessionHash: string, connectionId: string): Promise<StoredPair | null> {
    const [sealed, ver] = await redisCall(() => this.redis.hmget(keys.connection(sessionHash, connectionId), 'pair', 'ver'));
    if (!sealed || !ver) return null;
    const pair = JSON.parse(this.cipher.open(sealed, keys.connection(sessionHash, connectionId))) as TokenPair;
    return { pair, version: Number(ver) };
  }
}

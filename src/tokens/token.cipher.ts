import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM for token pairs at rest. A sealed value is `v1.<keyId>.<iv>.<tag>.<ciphertext>`
 * (base64url): the key id lets a later key rotation find the key a value was sealed with, and the
 * additional data (the Redis key) makes a value copied to another key fail to open.
 */

const VERSION = 'v1';

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 8);
}

export class TokenCipher {
  private readonly keys = new Map<string, Buffer>();
  private readonly currentId: string;

  /** `current` seals; `previous` keys still open values sealed before a rotation. */
  constructor(current: Buffer, previous: Buffer[] = []) {
    for (const k of [current, ...previous]) {
      if (k.length !== 32) throw new Error('AES-256-GCM keys are 32 bytes');
      this.keys.set(keyId(k), k);
    }
    this.currentId = keyId(current);
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentId)!, iv);
    cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.currentId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  /** Throws on a foreign format, an unknown key, or any tampering. */
  open(sealed: string, aad: string): string {
    const [version, kid, iv, tag, ct] = sealed.split('.');
    // Stryker disable next-line ConditionalExpression: equivalent, Map.get(undefined) is undefined too
    const key = kid === undefined ? undefined : this.keys.get(kid);
    if (version !== VERSION || !key || !iv || !tag || ct === undefined) throw new Error('sealed value: unknown format or key');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}

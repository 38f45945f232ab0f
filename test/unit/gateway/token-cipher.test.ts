import { randomBytes } from 'node:crypto';
import { keyId, TokenCipher } from '../../../src/tokens/token.cipher';

const k1 = randomBytes(32);
const k2 = randomBytes(32);

test('seals with AES-256-GCM under a key id, and opens', () => {
  const c = new TokenCipher(k1);
  const sealed = c.seal('{"accessToken":"secret"}', 'sess:{h}:conn:c');
  expect(sealed).toMatch(new RegExp(`^v1\\.${keyId(k1)}\\.[\\w-]{16}\\.[\\w-]{22}\\.[\\w-]+$`));
  expect(sealed).not.toContain('secret');
  expect(c.open(sealed, 'sess:{h}:conn:c')).toBe('{"accessToken":"secret"}');
  expect(c.seal('x', 'a')).not.toBe(c.seal('x', 'a')); // fresh IV every time
});

test('a value does not open under another key name, another key, or after tampering', () => {
  const c = new TokenCipher(k1);
  const sealed = c.seal('payload', 'sess:{a}:conn:1');
  expect(() => c.open(sealed, 'sess:{b}:conn:1')).toThrow();
  expect(() => new TokenCipher(k2).open(sealed, 'sess:{a}:conn:1')).toThrow(/unknown format or key/);
  const parts = sealed.split('.');
  parts[4] = Buffer.from('tampered').toString('base64url');
  expect(() => c.open(parts.join('.'), 'sess:{a}:conn:1')).toThrow();
});

test('after a rotation the previous key still opens old values; new ones use the new key', () => {
  const old = new TokenCipher(k1).seal('old', 'k');
  const rotated = new TokenCipher(k2, [k1]);
  expect(rotated.open(old, 'k')).toBe('old');
  expect(rotated.seal('new', 'k').split('.')[1]).toBe(keyId(k2));
});

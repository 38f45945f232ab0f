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

/**
 * The stored format, pinned: values sealed by an earlier build must keep opening, or every stored pair
 * is stranded and every driver must connect again. These were sealed once with fixed keys.
 */
describe('the stored format', () => {
  const key = Buffer.alloc(32, 7);
  const previous = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const PAIR = '{"accessToken":"a-1","refreshToken":"r-1","expiresAt":1,"refreshExpiresAt":2}';
  const SEALED_PAIR =
    'v1.S7Bvjk46._Ql2tLtXEOhHfHwl.-zilS6i1dGCdOAxWk-u6BQ.Ip92LhqvEhlB_BqJH5idGW5QoODSTe5fSp2o9Phsv8Nm7O7G0LleEUSVh2XY3cprIXAAhEvwJclElg1Lxka4pGn9GZjbIy2G3YD8dgY';
  const SEALED_BY_PREVIOUS = 'v1.Yw3NKWbE.HVwmOdwYSySqQXAt.QfOQDFE_Uh71BU0tPp3UgA.WZUD';
  const SEALED_EMPTY = 'v1.S7Bvjk46.Vxtn81JngJe9cvyt.hmuATOHgcfrt36dSKFOvfA.';

  test('key ids are the first 8 base64url characters of the key’s SHA-256', () => {
    expect(keyId(key)).toBe('S7Bvjk46');
    expect(keyId(previous)).toBe('Yw3NKWbE');
  });

  test.each([
    ['a pair', SEALED_PAIR, 'sess:{h}:conn:c1', PAIR],
    ['a value sealed with the previous key', SEALED_BY_PREVIOUS, 'k', 'old'],
    ['an empty plaintext (empty ciphertext part)', SEALED_EMPTY, 'k', ''],
  ])('a known sealed value opens: %s', (_what, sealed, aad, plaintext) => {
    expect(new TokenCipher(key, [previous]).open(sealed, aad)).toBe(plaintext);
  });

  test('what seal writes: v1, the current key id, a 12-byte IV, a 16-byte tag, the ciphertext, and it opens again', () => {
    const c = new TokenCipher(key, [previous]);
    const parts = c.seal(PAIR, 'aad').split('.');
    expect(parts).toHaveLength(5);
    expect(parts[0]).toBe('v1');
    expect(parts[1]).toBe('S7Bvjk46');
    expect(Buffer.from(parts[2]!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(parts[3]!, 'base64url')).toHaveLength(16);
    expect(Buffer.from(parts[4]!, 'base64url')).toHaveLength(Buffer.byteLength(PAIR)); // GCM: no padding
    expect(c.open(parts.join('.'), 'aad')).toBe(PAIR);
    expect(new TokenCipher(key).open(c.seal('', 'aad'), 'aad')).toBe('');
    expect(new TokenCipher(key).open(c.seal('é ✓', 'aad'), 'aad')).toBe('é ✓'); // UTF-8 both ways
  });

  const [, kid, iv, tag, ct] = SEALED_PAIR.split('.');
  test.each([
    ['a foreign version prefix', `v2.${kid}.${iv}.${tag}.${ct}`],
    ['no version prefix', `${kid}.${iv}.${tag}.${ct}`],
    ['an unknown key id', `v1.AAAAAAAA.${iv}.${tag}.${ct}`],
    ['no key id', 'v1'],
    ['an empty IV', `v1.${kid}..${tag}.${ct}`],
    ['an empty tag', `v1.${kid}.${iv}..${ct}`],
    ['no ciphertext part', `v1.${kid}.${iv}.${tag}`],
    ['an empty string', ''],
  ])('refused as an unknown format or key: %s', (_what, sealed) => {
    expect(() => new TokenCipher(key, [previous]).open(sealed, 'sess:{h}:conn:c1')).toThrow('sealed value: unknown format or key');
  });

  test.each([
    ['another additional data', SEALED_PAIR, 'sess:{h}:conn:c2'],
    ['a zeroed tag', `v1.${kid}.${iv}.${Buffer.alloc(16).toString('base64url')}.${ct}`, 'sess:{h}:conn:c1'],
    ['another IV', `v1.${kid}.${Buffer.alloc(12).toString('base64url')}.${tag}.${ct}`, 'sess:{h}:conn:c1'],
  ])('refused by authentication: %s', (_what, sealed, aad) => {
    expect(() => new TokenCipher(key).open(sealed, aad)).toThrow(/unable to authenticate data/);
  });

  test.each([31, 33, 0])('a %i-byte key is refused, current or previous', (length) => {
    expect(() => new TokenCipher(Buffer.alloc(length))).toThrow('AES-256-GCM keys are 32 bytes');
    expect(() => new TokenCipher(key, [Buffer.alloc(length)])).toThrow('AES-256-GCM keys are 32 bytes');
  });

  test('a previous key only opens: the current key seals', () => {
    expect(new TokenCipher(previous, [key]).seal('x', 'k').split('.')[1]).toBe('Yw3NKWbE');
    expect(new TokenCipher(key, [previous]).seal('x', 'k').split('.')[1]).toBe('S7Bvjk46');
  });
});

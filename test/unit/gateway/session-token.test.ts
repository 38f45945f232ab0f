import { hashSessionToken, newSessionToken, readPresentedToken, readSessionToken } from '../../../src/session/session.token';

test('tokens carry 256 random bits; only their hash is used as an id', () => {
  const t = newSessionToken();
  expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(newSessionToken()).not.toBe(t);
  expect(hashSessionToken(t)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(hashSessionToken(t)).not.toBe(t);
});

test('read from the bearer header first, then the sid cookie; malformed means none', () => {
  const a = newSessionToken();
  const b = newSessionToken();
  expect(readSessionToken({ authorization: `Bearer ${a}`, cookie: `sid=${b}` })).toBe(a);
  expect(readSessionToken({ cookie: `other=1; sid=${b}` })).toBe(b);
  expect(readSessionToken({ authorization: 'Bearer short', cookie: `sid=${b}` })).toBeNull();
  expect(readSessionToken({ authorization: `Basic ${a}` , cookie: `sid=${b}` })).toBe(b);
  expect(readSessionToken({ cookie: 'sid=%E0%A4%A' })).toBeNull();
  expect(readSessionToken({})).toBeNull();
});

test('how a token was presented: a bearer, even malformed, is the caller\'s word; a malformed cookie is none', () => {
  const a = newSessionToken();
  const b = newSessionToken();
  expect(readPresentedToken({ authorization: `Bearer ${a}`, cookie: `sid=${b}` })).toEqual({ via: 'bearer', token: a, hash: hashSessionToken(a) });
  expect(readPresentedToken({ cookie: `sid=${b}` })).toEqual({ via: 'cookie', token: b, hash: hashSessionToken(b) });
  expect(readPresentedToken({ authorization: 'Bearer not a token', cookie: `sid=${b}` })).toEqual({ via: 'bearer', token: null, hash: null });
  expect(readPresentedToken({ authorization: 'bearer short' })).toEqual({ via: 'bearer', token: null, hash: null });
  expect(readPresentedToken({ authorization: `Basic ${a}`, cookie: `sid=${b}` })).toMatchObject({ via: 'cookie', token: b });
  expect(readPresentedToken({ authorization: 'Bearer', cookie: 'sid=short' })).toBeNull();
  expect(readPresentedToken({ cookie: 'sid=%E0%A4%A' })).toBeNull();
});

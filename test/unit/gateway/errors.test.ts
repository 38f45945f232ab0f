import {
  AppError,
  badInput,
  notCached,
  ERROR_CODES,
  fromUpstream,
  HTTP_STATUS,
  serviceUnavailable,
  StartupError,
  toAppError,
  unauthenticated,
  UpstreamError,
  type ErrorCode,
  type Phase,
  type SmartcarDetails,
} from '../../../src/errors';

/** The error vocabulary (README, "Errors"; schema.graphql): codes, statuses, and the mapping of Smartcar failures. */

const details = (type: string | null, code: string | null = null, more: Partial<SmartcarDetails> = {}): SmartcarDetails => ({
  type,
  code,
  requestId: 'req-9',
  resolution: null,
  suggestedUserMessage: null,
  retryAfter: null,
  ...more,
});
const response = (status: number | null, type: string | null, code: string | null = null, more: Partial<SmartcarDetails> = {}) =>
  new UpstreamError('response', status, details(type, code, more));

test('the public codes and their HTTP statuses', () => {
  expect(ERROR_CODES).toEqual([
    'UNAUTHENTICATED',
    'RECONNECT_REQUIRED',
    'BAD_USER_INPUT',
    'NOT_FOUND',
    'PERMISSION_DENIED',
    'VEHICLE_STATE',
    'COMPATIBILITY',
    'RATE_LIMITED',
    'BILLING',
    'UPSTREAM_UNAVAILABLE',
    'SERVICE_UNAVAILABLE',
    'INTERNAL_SERVER_ERROR',
  ]);
  expect(HTTP_STATUS).toEqual({
    UNAUTHENTICATED: 401,
    RECONNECT_REQUIRED: 401,
    BAD_USER_INPUT: 400,
    NOT_FOUND: 404,
    PERMISSION_DENIED: 403,
    VEHICLE_STATE: 409,
    COMPATIBILITY: 501,
    RATE_LIMITED: 429,
    BILLING: 402,
    UPSTREAM_UNAVAILABLE: 502,
    SERVICE_UNAVAILABLE: 503,
    INTERNAL_SERVER_ERROR: 500,
  });
});

test('constructors', () => {
  const cause = new Error('ECONNREFUSED');
  const e = new AppError('NOT_FOUND', 'no such thing', { id: 'x' }, { cause });
  expect([e.name, e.code, e.message, e.extensions, e.cause]).toEqual(['AppError', 'NOT_FOUND', 'no such thing', { id: 'x' }, cause]);
  expect(new AppError('NOT_FOUND', 'm').extensions).toEqual({});
  expect(unauthenticated()).toMatchObject({ code: 'UNAUTHENTICATED', message: 'Sign in first: no valid session.' });
  expect(unauthenticated('expired').message).toBe('expired');
  expect(badInput('bad', { field: 'maxAge' })).toMatchObject({ code: 'BAD_USER_INPUT', message: 'bad', extensions: { field: 'maxAge' } });
  expect(badInput('bad').extensions).toEqual({});
  expect(notCached('make')).toMatchObject({
    code: 'NOT_FOUND',
    message: "make is not in the gateway's cache yet, and a subscription never asks Smartcar: read the vehicle once with a query, then it is.",
    extensions: { field: 'make' },
  });
  const down = serviceUnavailable(cause);
  expect([down.code, down.message, down.cause, down.extensions]).toEqual(['SERVICE_UNAVAILABLE', 'The gateway cannot reach its session store. Try again shortly.', cause, {}]);
  expect(new StartupError('x')).toBeInstanceOf(Error);
});

describe('UpstreamError', () => {
  test.each([
    [response(409, 'VEHICLE_STATE', 'DOOR_OPEN'), 'Smartcar response failure 409 VEHICLE_STATE:DOOR_OPEN'],
    [response(500, null), 'Smartcar response failure 500'],
    [new UpstreamError('network', null, details(null)), 'Smartcar network failure'],
    [new UpstreamError('timeout', null, details(null)), 'Smartcar timeout failure'],
  ])('%#: message %s', (e, message) => {
    expect(e.message).toBe(message);
    expect(e.name).toBe('UpstreamError');
  });

  test.each([
    ['AUTHENTICATION', true, false],
    ['invalid_grant', false, true],
    ['PERMISSION', false, false],
    [null, false, false],
  ])('type %s: authentication %s, invalid grant %s', (type, auth, grant) => {
    const e = response(401, type);
    expect(e.isAuthentication).toBe(auth);
    expect(e.isInvalidGrant).toBe(grant);
  });

  test("v3's 403 AUTHENTICATION/ACCESS_DENIED is no reason to renew the token: the driver's connection is gone", () => {
    expect(response(403, 'AUTHENTICATION').isAuthentication).toBe(false);
    expect(response(401, 'AUTHENTICATION').isAuthentication).toBe(true);
  });
});

describe('Smartcar failures in the public vocabulary', () => {
  const MESSAGE: Record<string, string> = {
    RECONNECT_REQUIRED: 'Smartcar no longer accepts this connection. Connect the vehicle again.',
    PERMISSION_DENIED: 'The driver did not grant the permission this needs.',
    VEHICLE_STATE: 'The vehicle cannot do this in its current state.',
    COMPATIBILITY: 'The vehicle does not support this.',
    RATE_LIMITED: 'Too many requests to this vehicle. Retry later.',
    BILLING: 'The Smartcar account has reached a billing limit.',
    UPSTREAM_UNAVAILABLE: 'Smartcar is not answering right now. Try again shortly.',
    INTERNAL_SERVER_ERROR: 'Internal server error',
    BAD_USER_INPUT: 'Smartcar rejected the authorization code (expired, already used, or for another redirect URI).',
  };

  test.each<[string, number | null, string | null, string | null, Phase, ErrorCode]>([
    ['invalid_grant at the exchange', 400, 'invalid_grant', null, 'exchange', 'BAD_USER_INPUT'],
    ['invalid_grant at a refresh', 400, 'invalid_grant', null, 'refresh', 'RECONNECT_REQUIRED'],
    ['invalid_grant in an API call', 400, 'invalid_grant', null, 'api', 'RECONNECT_REQUIRED'],
    ['invalid_request', 503, 'invalid_request', null, 'exchange', 'INTERNAL_SERVER_ERROR'],
    ['unsupported_grant_type', 503, 'unsupported_grant_type', null, 'refresh', 'INTERNAL_SERVER_ERROR'],
    ['invalid_client', 503, 'invalid_client', null, 'refresh', 'INTERNAL_SERVER_ERROR'],
    ['AUTHENTICATION', 401, 'AUTHENTICATION', null, 'api', 'RECONNECT_REQUIRED'],
    ['PERMISSION', 403, 'PERMISSION', null, 'api', 'PERMISSION_DENIED'],
    ['CONNECTED_SERVICES_ACCOUNT, login failed', 400, 'CONNECTED_SERVICES_ACCOUNT', 'AUTHENTICATION_FAILED', 'api', 'RECONNECT_REQUIRED'],
    ['CONNECTED_SERVICES_ACCOUNT, subscription', 400, 'CONNECTED_SERVICES_ACCOUNT', 'SUBSCRIPTION', 'api', 'VEHICLE_STATE'],
    ['CONNECTED_SERVICES_ACCOUNT, no code', 400, 'CONNECTED_SERVICES_ACCOUNT', null, 'api', 'VEHICLE_STATE'],
    ['VEHICLE_STATE', 409, 'VEHICLE_STATE', 'DOOR_OPEN', 'api', 'VEHICLE_STATE'],
    ['COMPATIBILITY', 501, 'COMPATIBILITY', null, 'api', 'COMPATIBILITY'],
    ['RATE_LIMIT', 429, 'RATE_LIMIT', null, 'api', 'RATE_LIMITED'],
    ['BILLING', 430, 'BILLING', null, 'api', 'BILLING'],
    ['SERVER', 400, 'SERVER', null, 'api', 'UPSTREAM_UNAVAILABLE'],
    ['UPSTREAM', 400, 'UPSTREAM', null, 'api', 'UPSTREAM_UNAVAILABLE'],
    ['server_error', 400, 'server_error', null, 'refresh', 'UPSTREAM_UNAVAILABLE'],
    ['temporarily_unavailable', 400, 'temporarily_unavailable', null, 'refresh', 'UPSTREAM_UNAVAILABLE'],
    ['VALIDATION', 503, 'VALIDATION', null, 'api', 'INTERNAL_SERVER_ERROR'],
    ['RESOURCE_NOT_FOUND', 503, 'RESOURCE_NOT_FOUND', null, 'api', 'INTERNAL_SERVER_ERROR'],
    ['RESOURCE_NOT_FOUND, a path of v3', 503, 'RESOURCE_NOT_FOUND', 'INVALID_PATH', 'api', 'INTERNAL_SERVER_ERROR'],
    ["RESOURCE_NOT_FOUND, v3's vehicle (the connection is gone)", 404, 'RESOURCE_NOT_FOUND', 'VEHICLE_NOT_FOUND', 'api', 'RECONNECT_REQUIRED'],
    ['an unknown type, 400', 400, 'SOMETHING_NEW', null, 'api', 'INTERNAL_SERVER_ERROR'],
    ['an unknown type, 503', 503, 'SOMETHING_NEW', null, 'api', 'UPSTREAM_UNAVAILABLE'],
    ['no type, 500', 500, null, null, 'api', 'UPSTREAM_UNAVAILABLE'],
    ['no type, 504', 504, null, null, 'api', 'UPSTREAM_UNAVAILABLE'],
    ['no type, 499', 499, null, null, 'api', 'INTERNAL_SERVER_ERROR'],
    ['no type, 408', 408, null, null, 'api', 'UPSTREAM_UNAVAILABLE'],
    ['no type, 404', 404, null, null, 'api', 'INTERNAL_SERVER_ERROR'],
    ['no type, 409', 409, null, null, 'api', 'INTERNAL_SERVER_ERROR'],
    ['no type, no status', null, null, null, 'api', 'UPSTREAM_UNAVAILABLE'],
    // Types are judged by type, not status: the statuses above are the ones the status alone would judge otherwise.
  ])('%s (%s) → %s', (_what, status, type, code, phase, expected) => {
    const e = response(status, type, code);
    const mapped = fromUpstream(e, phase);
    expect(mapped.code).toBe(expected);
    expect(mapped.message).toBe(MESSAGE[expected]);
    expect(mapped.cause).toBe(e);
    expect(mapped.extensions).toEqual({ smartcar: e.details }); // what Smartcar said, and only that
    expect(toAppError(e, phase).code).toBe(expected);
  });

  test.each(['network', 'timeout'] as const)('a %s failure: UPSTREAM_UNAVAILABLE, with no smartcar extension at all', (kind) => {
    for (const type of [null, 'invalid_grant', 'RATE_LIMIT']) {
      const e = new UpstreamError(kind, null, details(type, null, { retryAfter: 5 }));
      const mapped = fromUpstream(e, 'refresh');
      expect(mapped.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(mapped.message).toBe(MESSAGE.UPSTREAM_UNAVAILABLE);
      expect(mapped.extensions).toEqual({});
    }
  });

  test('retryAfter is passed on for RATE_LIMITED only, when Smartcar gave one', () => {
    const limited = response(429, 'RATE_LIMIT', 'VEHICLE', { retryAfter: 30 });
    expect(fromUpstream(limited, 'api').extensions).toEqual({ smartcar: limited.details, retryAfter: 30 });
    expect(fromUpstream(response(429, 'RATE_LIMIT', 'VEHICLE', { retryAfter: 0 }), 'api').extensions.retryAfter).toBe(0);
    expect(fromUpstream(response(429, 'RATE_LIMIT'), 'api').extensions).not.toHaveProperty('retryAfter');
    for (const [status, type] of [
      [503, 'SERVER'],
      [409, 'VEHICLE_STATE'],
      [430, 'BILLING'],
    ] as const) {
      expect(fromUpstream(response(status, type, null, { retryAfter: 30 }), 'api').extensions).not.toHaveProperty('retryAfter');
    }
  });

  test('toAppError: an AppError passes as it is, Smartcar failures map (phase api by default), the rest is masked', () => {
    const app = new AppError('NOT_FOUND', 'x');
    expect(toAppError(app)).toBe(app);
    expect(toAppError(response(400, 'invalid_grant')).code).toBe('RECONNECT_REQUIRED');
    expect(toAppError(response(400, 'invalid_grant'), 'exchange').code).toBe('BAD_USER_INPUT');
    const bug = new TypeError('undefined is not a function');
    const masked = toAppError(bug);
    expect([masked.code, masked.message, masked.extensions, masked.cause]).toEqual(['INTERNAL_SERVER_ERROR', 'Internal server error', {}, bug]);
    expect(toAppError('a string').code).toBe('INTERNAL_SERVER_ERROR');
  });
});

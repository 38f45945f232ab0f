import smartcar from 'smartcar';
import { startSimulator, type RunningSimulator } from '../../../src/simulator';
import { completeConsent, openConsent } from '../../support/connect';

/** Connect and the token endpoint, driven by the real smartcar SDK against the simulator. */

let sim: RunningSimulator;
let clock = Date.now();
const REDIRECT = 'http://localhost:8000/exchange';

beforeAll(async () => {
  sim = await startSimulator({ now: () => clock });
  Object.assign(process.env, sim.env);
});
afterAll(() => sim.stop());
beforeEach(() => sim.resetRequests());

function authClient(overrides: Partial<smartcar.AuthClientOptions> = {}) {
  return new smartcar.AuthClient({
    clientId: sim.client.clientId,
    clientSecret: sim.client.clientSecret,
    redirectUri: REDIRECT,
    mode: 'test',
    ...overrides,
  });
}

async function codeFor(username: string, client = authClient(), scope = ['required:read_vehicle_info', 'read_odometer']) {
  const location = await completeConsent(client.getAuthUrl(scope, { state: 'st-1' }), { username });
  return location.searchParams.get('code')!;
}

describe('Connect', () => {
  test('renders a consent page with the brand, the permissions in words and sign-in fields', async () => {
    const url = authClient().getAuthUrl(['required:read_vehicle_info', 'read_location'], { makeBypass: 'TESLA', state: 'x' });
    expect(url.startsWith(`${sim.origin}/oauth/authorize?`)).toBe(true);
    const page = await openConsent(url);
    expect(page.status).toBe(200);
    expect(page.html).toContain('TESLA');
    expect(page.html).toContain('Know make, model, and year');
    expect(page.html).toContain('Access the location');
    expect(page.html).toMatch(/name="username"/);
    expect(page.html).toMatch(/type="password"/);
  });

  test("names the application, and Allow is the form's default button (Enter approves, as on Smartcar)", async () => {
    const page = await openConsent(authClient().getAuthUrl(['read_vehicle_info'], { state: 'x' }));
    expect(page.html).toContain('<strong id="app-name">Local development app</strong> would like to:');
    // Implicit submission (Enter in a field) uses the first submit button in tree order.
    const buttons = [...page.html.matchAll(/<button type="submit" name="action" value="(\w+)"/g)].map((m) => m[1]);
    expect(buttons).toEqual(['approve', 'deny']);
  });

  test('approving redirects to redirect_uri with a code and the state; denying with access_denied', async () => {
    const client = authClient();
    const ok = await completeConsent(client.getAuthUrl(['read_vehicle_info'], { state: 'abc' }), { username: 'driver@example.com' });
    expect(`${ok.origin}${ok.pathname}`).toBe(REDIRECT);
    expect(ok.searchParams.get('code')).toMatch(/^[0-9a-f-]{36}$/);
    expect(ok.searchParams.get('state')).toBe('abc');

    const denied = await completeConsent(client.getAuthUrl(['read_vehicle_info'], { state: 'abc' }), { action: 'deny' });
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('error_description')).toBe('User denied access to application.');
    expect(denied.searchParams.get('state')).toBe('abc');
    expect(denied.searchParams.get('code')).toBeNull();
  });

  test('redirects to a custom scheme such as sc<clientId>://exchange', async () => {
    const client = authClient({ redirectUri: `sc${sim.client.clientId}://exchange` });
    const location = await completeConsent(client.getAuthUrl(['read_vehicle_info'], { state: 's' }));
    expect(location.protocol).toBe(`sc${sim.client.clientId}:`);
    expect(location.host).toBe('exchange');
    expect(location.searchParams.get('code')).toMatch(/^[0-9a-f-]{36}$/);
    const access = await client.exchangeCode(location.searchParams.get('code')!);
    expect(access.accessToken).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('an unknown client id gets an error page, not a redirect', async () => {
    const page = await openConsent(authClient({ clientId: 'nope' }).getAuthUrl(['read_vehicle_info']));
    expect(page.status).toBe(400);
    expect(page.location).toBeNull();
    expect(page.html).toContain('Unknown client_id');
  });

  test('an unknown permission redirects with configuration_error', async () => {
    const page = await openConsent(authClient().getAuthUrl(['read_everything'], { state: 'q' }));
    expect(page.status).toBe(302);
    const location = new URL(page.location!);
    expect(location.searchParams.get('error')).toBe('configuration_error');
    expect(location.searchParams.get('state')).toBe('q');
  });

  test('single_select_vin limits the grant to that car; a VIN the account lacks gives no_vehicles', async () => {
    const family = sim.user('family@example.com');
    const client = authClient();
    const code = (
      await completeConsent(client.getAuthUrl(['read_vehicle_info'], { singleSelect: { vin: family.vehicles[1]!.vin } }), {
        username: 'family@example.com',
      })
    ).searchParams.get('code')!;
    const access = await client.exchangeCode(code);
    const { vehicles } = await smartcar.getVehicles(access.accessToken);
    expect(vehicles).toEqual([family.vehicles[1]!.id]);

    const none = await completeConsent(client.getAuthUrl(['read_vehicle_info'], { singleSelect: { vin: 'WRONGVIN000000000' } }), {
      username: 'family@example.com',
    });
    expect(none.searchParams.get('error')).toBe('no_vehicles');
  });
});

describe('token endpoint', () => {
  test('exchangeCode returns the SDK Access object; the request is recorded without tokens', async () => {
    const client = authClient();
    const code = await codeFor('driver@example.com', client);
    const before = Date.now();
    const access = await client.exchangeCode(code);
    expect(access.accessToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(access.refreshToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(access.accessToken).not.toBe(access.refreshToken);
    expect(access.expiration.getTime()).toBeGreaterThanOrEqual(before + 7200 * 1000);
    expect(access.expiration.getTime()).toBeLessThan(Date.now() + 7200 * 1000 + 1000);

    const tokenCalls = sim.requests().filter((r) => r.kind === 'token');
    expect(tokenCalls).toHaveLength(1);
    expect(tokenCalls[0]).toMatchObject({ method: 'POST', path: '/oauth/token', status: 200, grantType: 'authorization_code', clientId: sim.client.clientId });
    expect(JSON.stringify(sim.requests())).not.toContain(access.accessToken);
    expect(JSON.stringify(sim.requests())).not.toContain(code);
  });

  test('codes are single-use', async () => {
    const client = authClient();
    const code = await codeFor('driver@example.com', client);
    await client.exchangeCode(code);
    const err = await client.exchangeCode(code).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(smartcar.SmartcarError);
    expect(err).toMatchObject({ statusCode: 400, type: 'invalid_grant', description: 'Invalid or expired authorization code.' });
  });

  test('codes expire after 10 minutes', async () => {
    const client = authClient();
    const code = await codeFor('driver@example.com', client);
    clock += 10 * 60 * 1000;
    try {
      await expect(client.exchangeCode(code)).rejects.toMatchObject({ statusCode: 400, type: 'invalid_grant' });
    } finally {
      clock = Date.now();
    }
    const fresh = await codeFor('driver@example.com', client);
    clock += 9 * 60 * 1000;
    try {
      await expect(client.exchangeCode(fresh)).resolves.toHaveProperty('accessToken');
    } finally {
      clock = Date.now();
    }
  });

  test('an unknown code, a wrong secret and a mismatched redirect URI get the OAuth errors', async () => {
    const client = authClient();
    await expect(client.exchangeCode('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ statusCode: 400, type: 'invalid_grant' });

    const code = await codeFor('driver@example.com', client);
    const wrongSecret = authClient({ clientSecret: 'wrong' });
    await expect(wrongSecret.exchangeCode(code)).rejects.toMatchObject({ statusCode: 401, type: 'invalid_client' });

    const otherRedirect = authClient({ redirectUri: 'http://localhost:9999/elsewhere' });
    const err = await otherRedirect.exchangeCode(code).catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 400, type: 'invalid_grant' });
    expect((err as Error).message).toBe('invalid_grant:undefined - Unauthorized redirect_uri: http://localhost:9999/elsewhere');
    // Neither failure used the code up.
    await expect(client.exchangeCode(code)).resolves.toHaveProperty('accessToken');
  });

  test('a client built without redirectUri sends "undefined", which only matches a Connect URL without one', async () => {
    const bare = new smartcar.AuthClient({ clientId: sim.client.clientId, clientSecret: sim.client.clientSecret, mode: 'test' });
    // No redirect_uri in the URL and none registered: Connect ends on Smartcar's own page.
    const landed = await completeConsent(bare.getAuthUrl(['read_vehicle_info']));
    expect(`${landed.origin}${landed.pathname}`).toBe(`${sim.origin}/oauth/redirect`);
    await expect(bare.exchangeCode(landed.searchParams.get('code')!)).resolves.toHaveProperty('accessToken');
    const withUri = await codeFor('driver@example.com');
    await expect(bare.exchangeCode(withUri)).rejects.toMatchObject({ statusCode: 400, type: 'invalid_grant' });
  });

  test('every refresh rotates the refresh token; the old one works for the grace window, then invalid_grant', async () => {
    const client = authClient();
    const first = await client.exchangeCode(await codeFor('driver@example.com', client));
    const second = await client.exchangeRefreshToken(first.refreshToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);

    // Both access tokens work; the new pair reaches the same user.
    expect((await smartcar.getUser(second.accessToken)).id).toBe((await smartcar.getUser(first.accessToken)).id);

    clock += 59_000;
    const again = await client.exchangeRefreshToken(first.refreshToken); // inside the 60 s grace window
    expect(again.refreshToken).not.toBe(second.refreshToken);

    clock += 1_000; // 60 s after first use
    const err = await client.exchangeRefreshToken(first.refreshToken).catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 400, type: 'invalid_grant', description: 'Invalid or expired refresh token.' });
    expect((err as Error).message).toBe('invalid_grant:undefined - Invalid or expired refresh token.');

    // The rotated tokens are unaffected.
    await expect(client.exchangeRefreshToken(second.refreshToken)).resolves.toHaveProperty('accessToken');
    clock = Date.now();

    const grants = sim.requests().filter((r) => r.kind === 'token').map((r) => `${r.grantType}:${r.status}`);
    expect(grants).toEqual(['authorization_code:200', 'refresh_token:200', 'refresh_token:200', 'refresh_token:400', 'refresh_token:200']);
  });

  test('access tokens expire after the configured lifetime and then get 401 AUTHENTICATION', async () => {
    sim.configure({ accessTokenTtlSec: 5 });
    try {
      const client = authClient();
      const access = await client.exchangeCode(await codeFor('driver@example.com', client));
      expect(access.expiration.getTime() - Date.now()).toBeLessThanOrEqual(5000);
      await expect(smartcar.getUser(access.accessToken)).resolves.toHaveProperty('id');
      clock += 5_000;
      const err = await smartcar.getUser(access.accessToken).catch((e: unknown) => e);
      expect(err).toMatchObject({ statusCode: 401, type: 'AUTHENTICATION', docURL: 'https://smartcar.com/docs/errors/api-errors/authentication-errors#null' });
      expect((err as Error).message).toMatch(/^AUTHENTICATION:null - The authorization header is missing or malformed/);
      expect((err as smartcar.SmartcarError).requestId).toMatch(/^[0-9a-f-]{36}$/);
      // The refresh token still works, and the new access token does.
      const renewed = await client.exchangeRefreshToken(access.refreshToken);
      await expect(smartcar.getUser(renewed.accessToken)).resolves.toHaveProperty('id');
    } finally {
      clock = Date.now();
      sim.configure({ accessTokenTtlSec: 7200 });
    }
  });

  test('revoked refresh tokens get invalid_grant; expired access tokens 401 (test controls)', async () => {
    const username = `revoke-${Date.now()}@example.com`;
    const client = authClient();
    const access = await client.exchangeCode(await codeFor(username, client));
    expect(sim.expireAccessTokens(username)).toBe(1);
    await expect(smartcar.getVehicles(access.accessToken)).rejects.toMatchObject({ statusCode: 401, type: 'AUTHENTICATION' });
    expect(sim.revokeRefreshTokens(username)).toBe(1);
    await expect(client.exchangeRefreshToken(access.refreshToken)).rejects.toMatchObject({ statusCode: 400, type: 'invalid_grant' });
  });

  test('an outage of the token endpoint: JSON 503, HTML 502, a dropped connection, then recovery', async () => {
    const client = authClient();
    const access = await client.exchangeCode(await codeFor('driver@example.com', client));
    sim.addFault({ target: 'token', mode: 'error', status: 503, count: 1 });
    await expect(client.exchangeRefreshToken(access.refreshToken)).rejects.toMatchObject({ statusCode: 503, type: 'server_error' });
    sim.addFault({ target: 'token', mode: 'html', status: 502, count: 1 });
    const html = await client.exchangeRefreshToken(access.refreshToken).catch((e: unknown) => e);
    expect(html).toMatchObject({ statusCode: 502 });
    expect((html as smartcar.SmartcarError).type).toBeUndefined();
    sim.addFault({ target: 'token', mode: 'reset', count: 1 });
    const reset = await client.exchangeRefreshToken(access.refreshToken).catch((e: unknown) => e);
    expect((reset as Error).name).toBe('TypeError'); // another realm under jest: compare names
    expect((reset as Error).message).toBe('fetch failed');
    // None of the failed attempts used the refresh token.
    await expect(client.exchangeRefreshToken(access.refreshToken)).resolves.toHaveProperty('accessToken');
    const statuses = sim.requests().filter((r) => r.grantType === 'refresh_token' || r.fault).map((r) => r.status);
    expect(statuses).toEqual([503, 502, 0, 200]);
  });
});

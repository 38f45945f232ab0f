import smartcar from 'smartcar';
import { startSimulator, type RunningSimulator } from '../../../src/simulator';
import { banner } from '../../../src/simulator/banner';
import { completeConsent, openConsent } from '../../support/connect';
import { appToken, connectUrl, connectV3, sdk, v3Client, type V3Client, type V3Connection, type V3Errors, type V3Page } from './v3-support';

/** API v3's token endpoint, Connect in its v3 form, the Connections API and v2's management API. */

let sim: RunningSimulator;
let api: V3Client;
let token = '';
beforeAll(async () => {
  sim = await startSimulator();
  for (const [k, v] of Object.entries(sim.env)) process.env[k] = v;
  token = await appToken(sim);
  api = v3Client(sim, () => token);
});
afterAll(() => sim.stop());

const tokenRequest = (init: { body: string; type?: string; basic?: string }) =>
  fetch(`${sim.origin}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': init.type ?? 'application/x-www-form-urlencoded', ...(init.basic && { authorization: `Basic ${init.basic}` }) },
    body: init.body,
  });

describe('POST /oauth2/token (client credentials)', () => {
  test('form, JSON and Basic are accepted; one app token for 1 h, no refresh token', async () => {
    const { clientId, clientSecret } = sim.v3;
    expect(clientId).toMatch(/^client_/);
    const form = await tokenRequest({ body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }).toString() });
    const json = await tokenRequest({ type: 'application/json', body: JSON.stringify({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }) });
    const basic = await tokenRequest({ body: 'grant_type=client_credentials', basic: Buffer.from(`${clientId}:${clientSecret}`).toString('base64') });
    for (const res of [form, json, basic]) {
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = (await res.json()) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
      expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    }
    const kinds = sim.requests().filter((r) => r.path === '/oauth2/token').slice(-3);
    expect(kinds.map((r) => [r.kind, r.grantType, r.clientId, r.status])).toEqual(Array(3).fill(['token', 'client_credentials', clientId, 200]));
  });

  test('its errors: 400 invalid_request / unsupported_grant_type, 401 invalid_client', async () => {
    const { clientId, clientSecret } = sim.v3;
    const cases: [Parameters<typeof tokenRequest>[0], number, string][] = [
      [{ body: `client_id=${clientId}&client_secret=${clientSecret}` }, 400, 'invalid_request'],
      [{ body: `grant_type=authorization_code&client_id=${clientId}&client_secret=${clientSecret}` }, 400, 'unsupported_grant_type'],
      [{ body: `grant_type=client_credentials&client_id=${clientId}&client_secret=wrong` }, 401, 'invalid_client'],
      [{ body: 'grant_type=client_credentials' }, 401, 'invalid_client'],
      // The v2 client id (the Application ID) is not an API client.
      [{ body: `grant_type=client_credentials&client_id=${sim.client.clientId}&client_secret=${sim.client.clientSecret}` }, 401, 'invalid_client'],
      [{ type: 'application/json', body: '{"grant_type":' }, 400, 'invalid_request'],
    ];
    for (const [init, status, error] of cases) {
      const res = await tokenRequest(init);
      expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([status, error]);
    }
  });

  test('an unknown or expired app token gets 401 AUTHENTICATION / UNAUTHORIZED in the v3 envelope', async () => {
    const mine = await appToken(sim);
    const client = v3Client(sim, () => mine);
    expect((await client.get('/v3/connections')).status).toBe(200);
    sim.expireAppTokens();
    const res = await client.get<V3Errors>('/v3/connections');
    expect(res.status).toBe(401);
    expect(res.body.errors).toEqual([
      {
        status: '401', type: 'AUTHENTICATION', code: 'UNAUTHORIZED', title: 'Unauthorized', detail: 'The Authorization token is missing or invalid.',
        links: { about: 'https://smartcar.com/docs/errors/api-errors/authentication-errors#unauthorized' }, resolution: { type: null },
        meta: { debug: { requestId: res.headers.get('sc-request-id') } },
      },
    ]);
    token = await appToken(sim);
  });
});

describe('Connect in its v3 form', () => {
  test('application_id and response_type=code: the redirect carries user_id, state, external_id and code', async () => {
    const user = sim.user('v3-connect-a+2@example.com');
    const back = await connectV3(sim, user.username, { external_id: 'ext-a-1' });
    expect([...back.keys()].sort()).toEqual(['code', 'external_id', 'state', 'user_id']);
    expect(back.get('user_id')).toBe(user.id);
    expect(back.get('state')).toBe('st-1');
    expect(back.get('external_id')).toBe('ext-a-1');
    // The code still works for v2.
    const auth = new smartcar.AuthClient({ clientId: sim.client.clientId, clientSecret: sim.client.clientSecret, redirectUri: 'https://app.example/callback' });
    const access = await auth.exchangeCode(back.get('code')!);
    expect((await smartcar.getVehicles(access.accessToken)).vehicles.sort()).toEqual(user.vehicles.map((v) => v.id).sort());
  });

  test('a plain v2 Connect URL keeps the v2 redirect (code and state), and still records the connection', async () => {
    const user = sim.user('v3-connect-v2@example.com');
    const q = new URLSearchParams({ client_id: sim.client.clientId, response_type: 'code', redirect_uri: 'https://app.example/callback', state: 's2' });
    const back = (await completeConsent(`${sim.origin}/oauth/authorize?${q}`, { username: user.username })).searchParams;
    expect([...back.keys()].sort()).toEqual(['code', 'state']);
    const list = await api.get<V3Page<V3Connection>>(`/v3/connections?filter[userId]=${user.id}`);
    expect(list.body.data.map((c) => c.relationships.vehicle.data.id)).toEqual([user.vehicles[0]!.id]);
  });

  test('client_id works as well; response_type=none completes without a code', async () => {
    const user = sim.user('v3-connect-b@example.com');
    const url = connectUrl(sim, { response_type: 'none' }).replace('application_id=', 'client_id=');
    const back = (await completeConsent(url, { username: user.username })).searchParams;
    expect(Object.fromEntries(back)).toEqual({ state: 'st-1', user_id: user.id });
  });

  test('errors: denial redirects with error and state; the client_… id and a bad response_type are refused', async () => {
    const denied = (await completeConsent(connectUrl(sim, { external_id: 'x' }), { action: 'deny' })).searchParams;
    expect(Object.fromEntries(denied)).toEqual({ error: 'access_denied', error_description: 'User denied access to application.', state: 'st-1' });
    const apiId = await openConsent(connectUrl(sim, { application_id: sim.v3.clientId }));
    expect(apiId.status).toBe(400);
    expect(apiId.html).toContain('Connect takes the Application ID');
    const bad = await openConsent(connectUrl(sim, { response_type: 'token' }));
    expect(bad.status).toBe(302);
    expect(Object.fromEntries(new URL(bad.location!).searchParams)).toEqual({ error: 'invalid_request', error_description: 'response_type must be "code" or "none".', state: 'st-1' });
  });
});

describe('the Connections API', () => {
  test('every approval is a connection: list, filters, paging, external id', async () => {
    const fleet = sim.user('v3-conn-fleet+12@example.com');
    const back = await connectV3(sim, fleet.username, { external_id: 'fleet-ext' });
    expect(back.get('user_id')).toBe(fleet.id);
    const page1 = await api.get<V3Page<V3Connection>>(`/v3/connections?filter[userId]=${fleet.id}`);
    expect(page1.status).toBe(200);
    expect(page1.body.meta).toEqual({ page: 1, pageSize: 10, totalCount: 12 });
    expect(page1.body.data).toHaveLength(10);
    expect(page1.body.links.next).toBe('/connections?page[number]=2&page[size]=10');
    const page2 = await api.get<V3Page<V3Connection>>(`/v3/connections?filter[userId]=${fleet.id}&page[number]=2`);
    expect(page2.body.data).toHaveLength(2);
    expect(page2.body.links.next).toBeNull();
    const all = [...page1.body.data, ...page2.body.data];
    expect(all.map((c) => c.relationships.vehicle.data.id).sort()).toEqual(fleet.vehicles.map((v) => v.id).sort());
    const first = all[0]!;
    expect(first).toMatchObject({ type: 'connection', attributes: { user: { externalId: 'fleet-ext' }, vehicle: { mode: 'simulated' } }, relationships: { user: { data: { id: fleet.id } } } });
    expect(first.attributes.permissions).toContain('read_odometer');

    const byExt = await api.get<V3Page<V3Connection>>('/v3/connections?filter[user.externalId]=fleet-ext&page[size]=100');
    expect(byExt.body.meta.totalCount).toBe(12);
    const byVehicle = await api.get<V3Page<V3Connection>>(`/v3/connections?filter[vehicleId]=${fleet.vehicles[3]!.id}`);
    expect(byVehicle.body.data.map((c) => c.relationships.user.data.id)).toEqual([fleet.id]);
    const live = await api.get<V3Page<V3Connection>>(`/v3/connections?filter[userId]=${fleet.id}&filter[vehicle.mode]=live`);
    expect(live.body.meta.totalCount).toBe(0);
    expect((await api.get<V3Errors>('/v3/connections?page[size]=101')).body.errors[0]!.code).toBe('INVALID_INPUT_FORMAT');
  });

  test('a re-auth rotates the connection id; external_id=null clears the external id', async () => {
    const user = sim.user('v3-conn-reauth@example.com');
    await connectV3(sim, user.username, { external_id: 'first' });
    const before = (await api.get<V3Page<V3Connection>>(`/v3/connections?filter[userId]=${user.id}`)).body.data;
    const back = await connectV3(sim, user.username, { external_id: 'null' });
    expect(back.has('external_id')).toBe(false);
    const after = (await api.get<V3Page<V3Connection>>(`/v3/connections?filter[userId]=${user.id}`)).body.data;
    expect(after).toHaveLength(1);
    expect(after[0]!.id).not.toBe(before[0]!.id);
    expect(after[0]!.relationships.vehicle.data.id).toBe(before[0]!.relationships.vehicle.data.id);
    expect([before[0]!.attributes.user.externalId, after[0]!.attributes.user.externalId]).toEqual(['first', null]);
  });

  test('deleting a connection or a user revokes v2 access too', async () => {
    const user = sim.user('v3-conn-delete+2@example.com');
    const back = await connectV3(sim, user.username);
    const auth = new smartcar.AuthClient({ clientId: sim.client.clientId, clientSecret: sim.client.clientSecret, redirectUri: 'https://app.example/callback' });
    const access = await auth.exchangeCode(back.get('code')!);
    const list = (await api.get<V3Page<V3Connection>>(`/v3/connections?filter[userId]=${user.id}`)).body.data;
    expect(list).toHaveLength(2);
    const gone = list[0]!;
    expect((await api.del(`/v3/connections/${gone.id}`)).status).toBe(204);
    expect((await api.del<V3Errors>(`/v3/connections/${gone.id}`)).status).toBe(404);
    expect((await smartcar.getVehicles(access.accessToken)).vehicles).toEqual([list[1]!.relationships.vehicle.data.id]);
    expect((await api.del(`/v3/users/${user.id}`)).status).toBe(204);
    expect((await api.get<V3Page<V3Connection>>(`/v3/connections?filter[userId]=${user.id}`)).body.meta.totalCount).toBe(0);
    expect((await smartcar.getVehicles(access.accessToken)).vehicles).toEqual([]);
    expect((await api.del<V3Errors>(`/v3/users/${user.id}`)).status).toBe(404);
  });
});

describe("v2's management API (the SDK's getConnections / deleteConnections, Basic default:AMT)", () => {
  test('lists with filters and a cursor, deletes by user or vehicle, and refuses a wrong token', async () => {
    const user = sim.user('v3-mgmt+3@example.com');
    await connectV3(sim, user.username);
    const amt = sim.v3.managementToken;
    const mine = await sdk.getConnections(amt, { userId: user.id }, { limit: 2 });
    expect(mine.connections).toHaveLength(2);
    expect(mine.connections[0]).toEqual({ userId: user.id, vehicleId: expect.any(String), connectedAt: expect.any(String), mode: 'test' });
    const rest = await sdk.getConnections(amt, { userId: user.id }, { limit: 2, cursor: mine.paging!.cursor! });
    expect(rest.connections).toHaveLength(1);
    expect(rest.paging!.cursor).toBeNull();
    const ids = [...mine.connections, ...rest.connections].map((c) => c.vehicleId).sort();
    expect(ids).toEqual(user.vehicles.map((v) => v.id).sort());

    const one = await sdk.deleteConnections(amt, { vehicleId: user.vehicles[0]!.id });
    expect(one.connections).toEqual([{ userId: user.id, vehicleId: user.vehicles[0]!.id }]);
    const v3View = await api.get<V3Page<V3Connection>>(`/v3/connections?filter[userId]=${user.id}`);
    expect(v3View.body.meta.totalCount).toBe(2);
    const all = await sdk.deleteConnections(amt, { userId: user.id });
    expect(all.connections).toHaveLength(2);
    expect((await sdk.getConnections(amt, { userId: user.id })).connections).toEqual([]);

    await expect(sdk.getConnections('wrong-token')).rejects.toMatchObject({ statusCode: 401, type: 'AUTHENTICATION' });
  });
});

test('`npm run simulator` prints the v2 export block, then the v3 one with every v3 origin', () => {
  const text = banner(sim);
  const v2 = text.indexOf(`export SMARTCAR_CLIENT_ID=${sim.client.clientId}`);
  const v3 = text.indexOf('export SMARTCAR_API_VERSION=3');
  expect(v2).toBeGreaterThan(0);
  expect(v3).toBeGreaterThan(v2);
  const v3Lines = text.slice(v3).split('\n').filter((l) => l.startsWith('export '));
  expect(v3Lines).toEqual([
    'export SMARTCAR_API_VERSION=3',
    `export SMARTCAR_CLIENT_ID=${sim.v3.clientId}`,
    `export SMARTCAR_CLIENT_SECRET=${sim.v3.clientSecret}`,
    `export SMARTCAR_APPLICATION_ID=${sim.client.clientId}`,
    `export SMARTCAR_MANAGEMENT_TOKEN=${sim.v3.managementToken}`,
    `export SMARTCAR_WEBHOOK_ID=${sim.v3.webhookId}`,
    `export SMARTCAR_IAM_ORIGIN=${sim.origin}`,
    `export SMARTCAR_API_V3_ORIGIN=${sim.origin}`,
    `export SMARTCAR_MANAGEMENT_API_V3_ORIGIN=${sim.origin}`,
    `export SMARTCAR_CONNECT_ORIGIN=${sim.origin}`,
  ]);
  expect(sim.v3.clientId).toMatch(/^client_[0-9a-f]{32}$/);
  expect(sim.v3.applicationId).toBe(sim.client.clientId);
  // v2 tests keep using `env` unchanged.
  expect(Object.keys(sim.env)).toEqual(['SMARTCAR_AUTH_ORIGIN', 'SMARTCAR_API_ORIGIN', 'SMARTCAR_MANAGEMENT_API_ORIGIN', 'SMARTCAR_CLIENT_ID', 'SMARTCAR_CLIENT_SECRET']);
});

import smartcar from 'smartcar';
import { ALL_PERMISSIONS, DEFAULT_CLIENT, PERMISSIONS, startSimulator, type RunningSimulator } from '../../../src/simulator';
import { webhookCredentialsOf } from '../../../src/simulator/v2.webhooks';
import { completeConsent, openConsent } from '../../support/connect';

/**
 * v2 as Smartcar documents it, through the real SDK's own methods: every permission, the less common
 * endpoints, webhook subscriptions, the Compatibility API, Smartcar's test-mode accounts, Connect's
 * finer points and Smartcar's error bodies.
 */

type Meta = smartcar.Meta;
interface ServiceRecord {
  serviceId: number;
  serviceDate: string;
  odometerDistance: number;
  serviceTasks: { taskId: string; taskDescription: string }[];
  serviceDetails: { type: string };
  serviceCost: { totalCost: number; currency: string };
}
/** SDK 10.4 methods the gateway's declarations leave out. */
interface MoreMethods {
  nominalCapacity(): Promise<{ availableCapacities: { capacity: number; description: string | null }[]; capacity: { capacity: number; description: string | null } | null; url: string; meta: Meta }>;
  diagnosticTroubleCodes(): Promise<{ activeCodes: { code: string; timestamp: string | null }[]; meta: Meta }>;
  diagnosticSystemStatus(): Promise<{ systems: { systemId: string; status: string; description: string | null }[]; meta: Meta }>;
  serviceHistory(startDate?: string, endDate?: string): Promise<{ data: ServiceRecord[]; meta: Meta }>;
  sendDestination(latitude: number, longitude: number): Promise<{ status: string; message?: string; meta: Meta }>;
  subscribe(webhookId: string): Promise<{ webhookId: string; vehicleId: string; meta: Meta }>;
  unsubscribe(amt: string, webhookId: string): Promise<{ status: string; meta: Meta }>;
}
interface Capability {
  permission: string;
  endpoint: string;
  capable: boolean;
  reason: string | null;
}
interface CompatibilityOptions {
  clientId?: string;
  clientSecret?: string;
  mode?: string;
  testModeCompatibilityLevel?: string;
}
interface MatrixEntry {
  model: string;
  startYear: number;
  endYear: number;
  type: string;
  endpoints: string[];
  permissions: string[];
}
const sdk = smartcar as unknown as typeof smartcar & {
  getCompatibility(vin: string, scope: string[], country?: string | CompatibilityOptions, options?: CompatibilityOptions): Promise<{ compatible: boolean; reason: string | null; capabilities: Capability[]; meta: Meta }>;
  getCompatibilityMatrix(region: string, options?: { scope?: string[]; make?: string[]; type?: string }): Promise<Record<string, MatrixEntry[]>>;
};
const vehicle = (id: string, token: string) => new smartcar.Vehicle(id, token) as smartcar.Vehicle & MoreMethods;

const REDIRECT = 'http://localhost:8000/exchange';
const APP2 = { name: 'Registered app', clientId: 'app-two', clientSecret: 'app-two-secret', redirectUris: ['https://app.example/callback'], defaultScopes: ['read_vehicle_info'] };
let clock = Date.UTC(2026, 0, 5, 12);
let sim: RunningSimulator;
let client: smartcar.AuthClient;
let live: smartcar.AuthClient;

beforeAll(async () => {
  sim = await startSimulator({ clients: [DEFAULT_CLIENT, APP2], now: () => clock, accessTokenTtlSec: 30 * 86_400 });
  Object.assign(process.env, sim.env);
  client = new smartcar.AuthClient({ clientId: sim.client.clientId, clientSecret: sim.client.clientSecret, redirectUri: REDIRECT, mode: 'test' });
  live = new smartcar.AuthClient({ clientId: sim.client.clientId, clientSecret: sim.client.clientSecret, redirectUri: REDIRECT, mode: 'live' });
});
afterAll(() => sim.stop());
beforeEach(() => sim.resetRequests());

async function connect(username: string, scope: string[] = ALL_PERMISSIONS, auth = client) {
  const back = await completeConsent(auth.getAuthUrl(scope), { username });
  const code = back.searchParams.get('code');
  if (!code) throw new Error(`Connect answered ${back.search}`);
  return auth.exchangeCode(code);
}

async function carsOf(username: string, scope?: string[], auth?: smartcar.AuthClient) {
  const access = await connect(username, scope, auth);
  const ids = (await smartcar.getVehicles(access.accessToken, { limit: 50 })).vehicles;
  return { access, ids, cars: ids.map((id) => vehicle(id, access.accessToken)) };
}

const rejection = async (p: Promise<unknown>): Promise<smartcar.SmartcarError> => {
  try {
    await p;
  } catch (e) {
    return e as smartcar.SmartcarError;
  }
  throw new Error('did not reject');
};

describe('permissions', () => {
  test('Connect accepts every permission Smartcar documents and describes each in words', async () => {
    expect(ALL_PERMISSIONS).toHaveLength(28);
    const page = await openConsent(client.getAuthUrl(['read_user_profile', 'read_diagnostics', 'required:read_service_history', 'control_navigation', 'control_trunk']));
    expect(page.status).toBe(200);
    expect([...page.html.matchAll(/data-permission="([^"]+)"/g)].map((m) => m[1])).toEqual(['read_user_profile', 'read_diagnostics', 'read_service_history', 'control_navigation', 'control_trunk']);
    expect(page.html).toContain('Read your connected services profile, such as your email and phone number');
    expect(page.html).toContain('Read the vehicle&#39;s system status and diagnostic trouble codes');
    const everything = await openConsent(client.getAuthUrl(ALL_PERMISSIONS));
    for (const words of Object.values(PERMISSIONS)) expect(everything.html).toContain(words.replace(/'/g, '&#39;'));
    // Still refused: a permission Smartcar does not have.
    const wrong = await openConsent(client.getAuthUrl(['read_vehicle_info', 'read_mind']));
    expect(wrong.status).toBe(302);
    expect(new URL(wrong.location!).searchParams.get('error')).toBe('configuration_error');
  });
});

describe('the endpoints added to v2', () => {
  test('nominal capacity, diagnostics, service history and navigation, each behind its permission', async () => {
    const { cars, ids } = await carsOf('family@example.com');
    const [ford, leaf] = cars as [ReturnType<typeof vehicle>, ReturnType<typeof vehicle>];
    const leafSpec = sim.user('family@example.com').vehicles[1]!;

    const nominal = await leaf.nominalCapacity();
    expect(nominal.capacity).toEqual({ capacity: leafSpec.batteryKwh, description: null });
    expect(nominal.availableCapacities[0]).toEqual({ capacity: 39, description: null });
    expect(nominal.availableCapacities).toHaveLength(2);
    expect(nominal.url).toContain(`vehicle_id=${ids[1]}`);
    expect(await rejection(ford.nominalCapacity())).toMatchObject({ statusCode: 501, type: 'COMPATIBILITY', code: 'VEHICLE_NOT_CAPABLE' });

    const dtcs = await ford.diagnosticTroubleCodes();
    expect(dtcs.activeCodes.length).toBeLessThanOrEqual(2);
    for (const c of dtcs.activeCodes) expect(c.code).toMatch(/^[PCBU]\d{3}[0-9A-F]$/);
    expect(dtcs.meta.dataAge).toBeInstanceOf(Date);
    const status = await leaf.diagnosticSystemStatus();
    expect(status.systems.map((s) => s.systemId)).toEqual(expect.arrayContaining(['SYSTEM_ABS', 'SYSTEM_AIRBAG', 'SYSTEM_EV_BATTERY']));
    for (const s of status.systems) expect(['OK', 'ALERT']).toContain(s.status);
    expect(status.systems.filter((s) => s.status === 'ALERT').every((s) => s.description !== null)).toBe(true);

    // No dates: the SDK sends start_date=undefined&end_date=undefined; Smartcar answers the last year.
    const lastYear = await ford.serviceHistory();
    expect(Array.isArray(lastYear.data)).toBe(true);
    expect(lastYear.data.length).toBeGreaterThanOrEqual(1);
    for (const r of lastYear.data) {
      expect(Date.parse(r.serviceDate)).toBeGreaterThanOrEqual(clock - 365 * 86_400_000);
      expect(r.serviceCost.currency).toBe('USD');
      expect(r.serviceTasks.length).toBeGreaterThan(0);
    }
    expect(lastYear.meta.unitSystem).toBe('metric');
    const older = await ford.serviceHistory('2023-01-01', '2024-12-31T00:00:00.000Z');
    expect(older.data.length).toBeGreaterThanOrEqual(3);
    expect(older.data.map((r) => r.serviceDate)).toEqual([...older.data.map((r) => r.serviceDate)].sort());
    const bad = await rejection(ford.serviceHistory('yesterday'));
    expect(bad).toMatchObject({ statusCode: 400, type: 'VALIDATION', code: 'PARAMETER', detail: [{ field: 'start_date', message: expect.stringContaining('start_date') }] });
    expect(bad.description).toBe('Request invalid or malformed. Please check for missing parameters, spelling and casing mistakes, and other syntax issues.');
    expect(bad.docURL).toBe('https://smartcar.com/docs/errors/api-errors/validation-errors#parameter');

    expect(await ford.sendDestination(37.77, -122.42)).toMatchObject({ status: 'success', message: 'Successfully sent request to vehicle' });
    // The SDK checks the range itself; a raw request shows Smartcar's answer.
    expect(await rejection(ford.request('post', 'navigation/destination', { latitude: 91, longitude: 0 }))).toMatchObject({ statusCode: 400, type: 'VALIDATION', code: 'PARAMETER' });

    const paths = sim.requests().filter((r) => r.kind === 'api' && r.vehicleId).map((r) => `${r.method} ${r.endpoint} ${r.status}`);
    expect(paths).toEqual([
      'GET /battery/nominal_capacity 200',
      'GET /battery/nominal_capacity 501',
      'GET /diagnostics/dtcs 200',
      'GET /diagnostics/system_status 200',
      'GET /service/history 200',
      'GET /service/history 200',
      'GET /service/history 400',
      'POST /navigation/destination 200',
      'POST /navigation/destination 400',
    ]);
  });

  test('without the permission: 403 PERMISSION in Smartcar words, with a lowercase docURL anchor', async () => {
    const { cars } = await carsOf('family@example.com', ['read_vehicle_info', 'read_battery']);
    for (const call of [() => cars[0]!.diagnosticTroubleCodes(), () => cars[0]!.serviceHistory(), () => cars[0]!.sendDestination(1, 1)]) {
      const e = await rejection(call());
      expect(e).toMatchObject({
        statusCode: 403,
        type: 'PERMISSION',
        description: 'Your application has insufficient permissions to access the requested resource. Please prompt the user to re-authenticate using Smartcar Connect.',
        docURL: 'https://smartcar.com/docs/errors/api-errors/permission-errors#null',
        resolution: { type: 'REAUTHENTICATE' },
      });
      expect(e.code).toBeUndefined();
    }
  });

  test('webhook subscriptions: subscribe with the access token, unsubscribe with the management token, VALIDATION for a bad id', async () => {
    const { cars, ids, access } = await carsOf('driver@example.com');
    const { webhookId, managementToken } = webhookCredentialsOf(sim.client);
    expect(await cars[0]!.subscribe(webhookId)).toMatchObject({ webhookId, vehicleId: ids[0] });
    for (const wrong of ['not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
      expect(await rejection(cars[0]!.subscribe(wrong))).toMatchObject({ statusCode: 400, type: 'VALIDATION', code: 'PARAMETER', detail: [{ field: 'webhookId' }] });
    }
    expect(await cars[0]!.unsubscribe(managementToken, webhookId)).toMatchObject({ status: 'success' });
    // The access token is not the management token.
    expect(await rejection(cars[0]!.unsubscribe(access.accessToken, webhookId))).toMatchObject({ statusCode: 401, type: 'AUTHENTICATION' });
    expect(await rejection(cars[0]!.unsubscribe(managementToken, 'nope'))).toMatchObject({ statusCode: 400, type: 'VALIDATION' });
    expect(sim.requests().filter((r) => r.endpoint?.startsWith('/webhooks/')).map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200', 'POST 400', 'POST 400', 'DELETE 200', 'DELETE 401', 'DELETE 400']);
  });
});

describe('the Compatibility API', () => {
  test('by VIN: capabilities per permission from the make; test mode levels; VALIDATION and AUTHENTICATION', async () => {
    const tesla = await sdk.getCompatibility('5YJ3E1EA7KF317123', ['read_battery', 'read_fuel'], 'US');
    expect(tesla.compatible).toBe(true);
    expect(tesla.reason).toBeNull();
    expect(tesla.capabilities).toEqual(
      expect.arrayContaining([
        { capable: true, endpoint: '/battery', permission: 'read_battery', reason: null },
        { capable: true, endpoint: '/battery/capacity', permission: 'read_battery', reason: null },
        { capable: false, endpoint: '/fuel', permission: 'read_fuel', reason: 'VEHICLE_NOT_CAPABLE' },
      ]),
    );
    expect(tesla.meta.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const unknownMake = await sdk.getCompatibility('ZZZ3E1EA7KF317123', ['read_odometer']);
    expect(unknownMake).toMatchObject({ compatible: false, reason: 'MAKE_NOT_COMPATIBLE', capabilities: [] });
    const fuel = await sdk.getCompatibility('ZZZ3E1EA7KF317123', ['read_battery', 'read_fuel'], { testModeCompatibilityLevel: 'fuel' });
    expect(fuel.capabilities.map((c) => `${c.endpoint}:${c.capable}`)).toEqual(expect.arrayContaining(['/battery:false', '/fuel:true']));
    expect(await sdk.getCompatibility('ZZZ3E1EA7KF317123', ['read_odometer'], { testModeCompatibilityLevel: 'incompatible' })).toMatchObject({ compatible: false, capabilities: [] });
    expect(await rejection(sdk.getCompatibility('SHORT', ['read_odometer']))).toMatchObject({ statusCode: 400, type: 'VALIDATION', code: 'PARAMETER' });
    expect(await rejection(sdk.getCompatibility('5YJ3E1EA7KF317123', []))).toMatchObject({ statusCode: 400, type: 'VALIDATION' });
    expect(await rejection(sdk.getCompatibility('5YJ3E1EA7KF317123', ['read_odometer'], { clientId: sim.client.clientId, clientSecret: 'wrong' }))).toMatchObject({ statusCode: 401, type: 'AUTHENTICATION' });
    const sent = sim.requests().filter((r) => r.path === '/v2.0/compatibility');
    expect(sent[0]!.query).toMatchObject({ vin: '5YJ3E1EA7KF317123', scope: 'read_battery read_fuel', country: 'US' });
    expect(sent[2]!.query).toMatchObject({ mode: 'test', test_mode_compatibility_level: 'fuel' });
    expect(sent.map((r) => r.status)).toEqual([200, 200, 200, 200, 400, 400, 401]);
  });

  test('the matrix, filtered by make, type and scope', async () => {
    const evs = await sdk.getCompatibilityMatrix('US', { make: ['TESLA', 'FORD'], type: 'BEV' });
    expect(Object.keys(evs).filter((k) => k !== 'meta')).toEqual(['TESLA']);
    expect(evs.TESLA![0]).toMatchObject({ model: 'Model 3', startYear: 2021, type: 'BEV' });
    expect(evs.TESLA![0]!.permissions).toEqual(expect.arrayContaining(['read_battery', 'control_charge', 'read_diagnostics']));
    expect(evs.TESLA![0]!.permissions).not.toContain('read_fuel');
    expect(evs.TESLA![0]!.endpoints).toEqual(expect.arrayContaining(['/battery', '/battery/nominal_capacity', '/charge']));
    const fuelCars = await sdk.getCompatibilityMatrix('US', { scope: ['read_fuel'] });
    const types = Object.entries(fuelCars).filter(([k]) => k !== 'meta').flatMap(([, models]) => models.map((m) => m.type));
    expect(new Set(types)).toEqual(new Set(['ICE', 'PHEV']));
    expect(await rejection(sdk.getCompatibilityMatrix('MARS'))).toMatchObject({ statusCode: 400, type: 'VALIDATION' });
  });
});

describe("Smartcar's test-mode accounts", () => {
  test('<n>-vehicles@smartcar.com: that many cars, paged', async () => {
    expect((await carsOf('3-vehicles@smartcar.com', ['read_vehicle_info'])).ids).toHaveLength(3);
    const access = await connect('120-vehicles@smartcar.com', ['read_vehicle_info']);
    const page = await smartcar.getVehicles(access.accessToken, { limit: 50, offset: 100 });
    expect(page.paging).toEqual({ count: 120, offset: 100 });
    expect(page.vehicles).toHaveLength(20);
  });

  test('<VIN>@<level>.smartcar.com: that VIN, and the permissions of the level', async () => {
    const bev = await carsOf('1SCTEST0000000BEV@bev.smartcar.com');
    expect(bev.ids).toHaveLength(1);
    expect((await bev.cars[0]!.vin()).vin).toBe('1SCTEST0000000BEV');
    expect((await bev.cars[0]!.battery()).percentRemaining).toBeGreaterThan(0);
    expect(await rejection(bev.cars[0]!.fuel())).toMatchObject({ statusCode: 501, code: 'VEHICLE_NOT_CAPABLE' });
    const fuel = await carsOf('1SCTEST000000FUEL@fuel.smartcar.com');
    expect((await fuel.cars[0]!.fuel()).percentRemaining).toBeGreaterThan(0);
    expect(await rejection(fuel.cars[0]!.battery())).toMatchObject({ statusCode: 501, code: 'VEHICLE_NOT_CAPABLE' });
    const phev = await carsOf('1SCTEST000000PHEV@phev.smartcar.com');
    await expect(phev.cars[0]!.fuel()).resolves.toHaveProperty('range');
    await expect(phev.cars[0]!.battery()).resolves.toHaveProperty('range');
    // The same email is the same car.
    expect((await carsOf('1SCTEST0000000BEV@bev.smartcar.com')).ids).toEqual(bev.ids);

    const incompatible = await completeConsent(client.getAuthUrl(['read_odometer'], { state: 's1' }), { username: '1SCTEST0000000INC@incompatible.smartcar.com' });
    expect(Object.fromEntries(incompatible.searchParams)).toMatchObject({ error: 'vehicle_incompatible', vin: '1SCTEST0000000INC', state: 's1' });
    expect(incompatible.searchParams.get('make')).toMatch(/^[A-Z]+$/);
    expect(Number(incompatible.searchParams.get('year'))).toBeGreaterThan(2000);
    // A required permission the car cannot serve makes it incompatible too.
    const required = await completeConsent(client.getAuthUrl(['read_vehicle_info', 'required:read_fuel']), { username: '1SCTEST0000000BEV@bev.smartcar.com' });
    expect(required.searchParams.get('error')).toBe('vehicle_incompatible');
  });

  test('<TYPE>.<CODE>@smartcar.com: every live endpoint answers that error, static ones still work', async () => {
    const asleep = await carsOf('VEHICLE_STATE.ASLEEP@smartcar.com');
    const car = asleep.cars[0]!;
    await expect(car.attributes()).resolves.toHaveProperty('make');
    await expect(car.vin()).resolves.toHaveProperty('vin');
    await expect(car.permissions()).resolves.toHaveProperty('permissions');
    for (const call of [() => car.odometer(), () => car.lock(), () => car.diagnosticTroubleCodes()]) {
      expect(await rejection(call())).toMatchObject({ statusCode: 409, type: 'VEHICLE_STATE', code: 'ASLEEP', docURL: 'https://smartcar.com/docs/errors/api-errors/vehicle-state-errors#asleep' });
    }
    const account = (await carsOf('connected_services_account.authentication_failed@smartcar.com')).cars[0]!;
    expect(await rejection(account.location())).toMatchObject({
      statusCode: 400,
      type: 'CONNECTED_SERVICES_ACCOUNT',
      code: 'AUTHENTICATION_FAILED',
      resolution: { type: 'REAUTHENTICATE' },
      docURL: 'https://smartcar.com/docs/errors/api-errors/connected-services-account-errors#authentication-failed',
    });
    const limited = (await carsOf('rate_limit.vehicle@smartcar.com')).cars[0]!;
    expect(await rejection(limited.odometer())).toMatchObject({ statusCode: 429, type: 'RATE_LIMIT', code: 'VEHICLE', retryAfter: '60' });
    const upstream = (await carsOf('upstream.no_response@smartcar.com')).cars[0]!;
    expect(await rejection(upstream.odometer())).toMatchObject({ statusCode: 502, type: 'UPSTREAM', code: 'NO_RESPONSE', docURL: expect.stringMatching(/upstream-errors#no-response$/) });
  });

  test("Smartcar's documented Connect test accounts: successful request, vehicle incompatible, invalid subscription", async () => {
    const ok = await carsOf('smartcar@successful-request.com');
    expect((await ok.cars[0]!.vin()).vin).toBe('0SCAUDI037A5ADB1C');
    const incompatible = await completeConsent(client.getAuthUrl(['read_odometer']), { username: 'smartcar@vehicle-incompatible.com' });
    expect(Object.fromEntries(incompatible.searchParams)).toEqual({
      error: 'vehicle_incompatible',
      error_description: 'The vehicle is incompatible with this application.',
      vin: '0SCAUDI012FE3B132',
      make: 'AUDI',
      model: 'A4',
      year: '2019',
    });
    const subscription = await completeConsent(client.getAuthUrl(['read_odometer'], { state: 'st' }), { username: 'smartcar@invalid-subscription.com' });
    expect(subscription.searchParams.get('error')).toBe('invalid_subscription');
    expect(subscription.searchParams.get('state')).toBe('st');
  });

  test('in test mode commands succeed whatever the simulated time of day; in live mode an unplugged car refuses to charge', async () => {
    const username = `unplugged-${Date.now()}+ev@example.com`;
    const liveCar = (await carsOf(username, ALL_PERMISSIONS, live)).cars[0]!;
    const testCar = (await carsOf(username, ALL_PERMISSIONS, client)).cars[0]!;
    // Walk the clock to a time of day when the car is not plugged in.
    for (let h = 0; h < 24 && (await liveCar.charge()).isPluggedIn; h++) clock += 3_600_000;
    expect((await liveCar.charge()).isPluggedIn).toBe(false);
    const refused = await rejection(liveCar.startCharge());
    expect(refused).toMatchObject({ statusCode: 409, type: 'VEHICLE_STATE', code: 'CHARGING_PLUG_NOT_CONNECTED', docURL: 'https://smartcar.com/docs/errors/api-errors/vehicle-state-errors#charging-plug-not-connected' });
    expect(await testCar.startCharge()).toMatchObject({ status: 'success' });
    expect(await testCar.lock()).toMatchObject({ status: 'success' });
    expect(await testCar.sendDestination(52.5, 13.4)).toMatchObject({ status: 'success' });
  });
});

describe('Connect', () => {
  test('without redirect_uri: the application’s first registered URI', async () => {
    const app2 = new smartcar.AuthClient({ clientId: APP2.clientId, clientSecret: APP2.clientSecret, mode: 'test' });
    const back = await completeConsent(app2.getAuthUrl(['read_vehicle_info'], { state: 'x' }));
    expect(`${back.origin}${back.pathname}`).toBe('https://app.example/callback');
    expect(back.searchParams.get('state')).toBe('x');
    await expect(app2.exchangeCode(back.searchParams.get('code')!)).resolves.toHaveProperty('accessToken');
    // The hosted landing page shows what Connect would have sent.
    const page = await fetch(`${sim.origin}/oauth/redirect?code=abc&state=x`);
    expect(await page.text()).toContain('<code id="code">abc</code>');
  });

  test('re-authentication (response_type=vehicle_id) answers the vehicle id and no code', async () => {
    const { ids } = await carsOf('family@example.com', ['read_vehicle_info']);
    const url = (extra: Record<string, string>) =>
      `${sim.origin}/oauth/authorize?${new URLSearchParams({ response_type: 'vehicle_id', client_id: sim.client.clientId, redirect_uri: REDIRECT, state: 're', mode: 'test', ...extra })}`;
    const page = await openConsent(url({ vehicle_id: ids[1]! }));
    expect(page.html).toContain('<h1>Sign in again</h1>');
    const back = await completeConsent(url({ vehicle_id: ids[1]! }), { username: 'family@example.com' });
    expect(Object.fromEntries(back.searchParams)).toEqual({ vehicle_id: ids[1], state: 're' });
    const stranger = await completeConsent(url({ vehicle_id: ids[1]! }), { username: 'driver@example.com' });
    expect(stranger.searchParams.get('error')).toBe('no_vehicles');
    const missing = await openConsent(url({}));
    expect(new URL(missing.location!).searchParams.get('error')).toBe('invalid_request');
  });

  test('approval_prompt=auto skips the page for permissions this browser’s user already approved; force always asks', async () => {
    const username = `auto-${Date.now()}@example.com`;
    const first = await openConsent(client.getAuthUrl(['read_vehicle_info', 'read_odometer']));
    const post = await fetch(`${sim.origin}/oauth/authorize`, {
      method: 'POST',
      body: new URLSearchParams({ request_id: first.requestId!, username, password: 'pw', action: 'approve' }),
      redirect: 'manual',
    });
    expect(post.status).toBe(302);
    const cookie = post.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).toMatch(/^sc_connect=/);
    const withCookie = (url: string) => fetch(url, { headers: { cookie }, redirect: 'manual' });

    const again = await withCookie(client.getAuthUrl(['read_odometer'], { state: 'a' }));
    expect(again.status).toBe(302);
    const back = new URL(again.headers.get('location')!);
    expect(back.searchParams.get('state')).toBe('a');
    const access = await client.exchangeCode(back.searchParams.get('code')!);
    expect((await smartcar.getVehicles(access.accessToken)).vehicles).toEqual(sim.user(username).vehicles.map((v) => v.id));

    // A Connect URL in v3 form skips the page too, and still redirects with the user's id.
    const v3Url = new URL(client.getAuthUrl(['read_odometer'], { state: 'b' }));
    v3Url.searchParams.set('external_id', 'ext-auto');
    const v3Back = new URL((await withCookie(v3Url.toString())).headers.get('location')!);
    expect(Object.fromEntries([...v3Back.searchParams].map(([k, v]) => [k, k === 'code' ? typeof v : v]))).toEqual({ code: 'string', state: 'b', user_id: sim.user(username).id, external_id: 'ext-auto' });

    expect((await withCookie(client.getAuthUrl(['read_odometer'], { forcePrompt: true }))).status).toBe(200);
    expect((await withCookie(client.getAuthUrl(['read_odometer', 'read_location']))).status).toBe(200);
    expect((await fetch(client.getAuthUrl(['read_odometer']), { redirect: 'manual' })).status).toBe(200);
  });

  test('a brand selector when the URL names no make', async () => {
    const page = await openConsent(client.getAuthUrl(['read_vehicle_info']));
    expect(page.html).toMatch(/<select name="make" id="brand"><option value="">Any brand<\/option>.*<option value="FORD">FORD<\/option>/);
    expect((await openConsent(client.getAuthUrl(['read_vehicle_info'], { makeBypass: 'TESLA' }))).html).not.toContain('<select name="make"');
    const post = await fetch(`${sim.origin}/oauth/authorize`, {
      method: 'POST',
      body: new URLSearchParams({ request_id: page.requestId!, username: 'family@example.com', password: 'pw', action: 'approve', make: 'NISSAN' }),
      redirect: 'manual',
    });
    const access = await client.exchangeCode(new URL(post.headers.get('location')!).searchParams.get('code')!);
    expect((await smartcar.getVehicles(access.accessToken)).vehicles).toEqual([sim.user('family@example.com').vehicles[1]!.id]);
  });

  test('an error inside Connect sends the user back with server_error', async () => {
    sim.addFault({ target: 'connect', mode: 'error', count: 1 });
    const res = await fetch(client.getAuthUrl(['read_vehicle_info'], { state: 'e' }), { redirect: 'manual' });
    expect(res.status).toBe(302);
    const back = new URL(res.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('server_error');
    expect(back.searchParams.get('state')).toBe('e');
    expect((await openConsent(client.getAuthUrl(['read_vehicle_info']))).status).toBe(200);
  });
});

describe('error bodies', () => {
  test('a body that is not JSON: 400 VALIDATION with code null; every docURL anchor lowercase-hyphen', async () => {
    const { ids, access } = await carsOf('driver@example.com');
    const res = await fetch(`${sim.origin}/v2.0/vehicles/${ids[0]}/security`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access.accessToken}`, 'content-type': 'application/json' },
      body: '{"action":',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'VALIDATION', code: null, statusCode: 400, docURL: 'https://smartcar.com/docs/errors/api-errors/validation-errors#null', resolution: { type: null } });
    const path = await rejection(vehicle(ids[0]!, access.accessToken).request('get', 'no/such/thing'));
    expect(path).toMatchObject({ statusCode: 404, type: 'RESOURCE_NOT_FOUND', code: 'PATH', docURL: 'https://smartcar.com/docs/errors/api-errors/resource-not-found-errors#path' });
  });
});

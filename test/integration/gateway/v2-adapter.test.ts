import smartcar from 'smartcar';
import { UpstreamError } from '../../../src/errors';
import { ALL_PERMISSIONS, startSimulator, type RunningSimulator } from '../../../src/simulator';
import type { Credential, SmartcarPort } from '../../../src/smartcar/smartcar.port';
import { createV2Adapter } from '../../../src/smartcar/v2.adapter';
import { fieldsOf, SIGNAL_NAMES, SIGNALS, type SignalName } from '../../../src/vehicles/signal.registry';
import type { UnitSystem } from '../../../src/vehicles/signal.units';
import { completeConsent } from '../../support/connect';

/**
 * The v2 adapter alone, through the real SDK against the simulator (its clock frozen, so a reading
 * does not move between two requests): the domain readings it returns are what Smartcar's own
 * endpoints answer, field by field, at the cost of one request per call.
 */

const NOW = 1_800_000_000_000;
let sim: RunningSimulator;
let port: SmartcarPort;

beforeAll(async () => {
  sim = await startSimulator({ now: () => NOW });
  port = createV2Adapter({
    clientId: sim.client.clientId,
    clientSecret: sim.client.clientSecret,
    redirectUri: 'http://localhost:8000/exchange',
    mode: 'test',
    timeoutMs: 5_000,
    tokenTimeoutMs: 5_000,
    origins: { auth: sim.origin, api: sim.origin, management: sim.origin },
  });
});
afterAll(() => sim.stop());

async function connect(username: string): Promise<Extract<Credential, { api: 2 }>> {
  const back = await completeConsent(port.authUrl({ scope: ALL_PERMISSIONS }), { username });
  const pair = await port.exchangeCode(back.searchParams.get('code')!);
  sim.resetRequests();
  return { api: 2, accessToken: pair.accessToken };
}
const vehicleCalls = () => sim.requests().filter((r) => r.kind === 'api' && r.vehicleId !== undefined).map((r) => r.batchPaths ?? `${r.method} ${r.endpoint}`);

/** What the SDK itself reads at the signal's v2 endpoint: its fields (null when absent) and metadata, or its failure. */
async function direct(token: string, vehicleId: string, name: SignalName, unitSystem: UnitSystem) {
  try {
    const res = await new smartcar.Vehicle(vehicleId, token, { unitSystem }).request('get', SIGNALS[name].v2.path.replace(/^\//, ''));
    const body = res.body as Record<string, unknown>;
    return { values: Object.fromEntries(fieldsOf(name).map((f) => [f, body[f] ?? null])), dataAge: res.meta.dataAge?.getTime() ?? null, fetchedAt: res.meta.fetchedAt?.getTime() ?? null };
  } catch (err) {
    const e = err as { statusCode: number; type: string; code: string };
    return { status: e.statusCode, type: e.type, code: e.code };
  }
}
const asCompared = (r: unknown) => (r instanceof UpstreamError ? { status: r.status, type: r.details.type, code: r.details.code } : r);

test('describeConnection: the user, every vehicle and the permissions, in three requests', async () => {
  const credential = await connect('family@example.com');
  const user = sim.user('family@example.com');
  const info = await port.describeConnection(credential);
  expect(info.userId).toBe(user.id);
  expect(info.vehicleIds).toEqual(user.vehicles.map((v) => v.id));
  expect([...info.permissions].sort()).toEqual([...ALL_PERMISSIONS].sort());
  expect(sim.requests().filter((r) => r.kind === 'api').map((r) => r.path).sort()).toEqual(['/v2.0/user/', `/v2.0/vehicles/`, `/v2.0/vehicles/${user.vehicles[0]!.id}/permissions`].sort());
});

test.each(['metric', 'imperial'] as const)('every signal of each car in one POST /batch (%s) equals what its own endpoint answers', async (units) => {
  const credential = await connect('family@example.com');
  const ids = sim.user('family@example.com').vehicles.map((v) => v.id);
  for (const id of ids) {
    sim.resetRequests();
    const answers = await port.readSignals(credential, id, SIGNAL_NAMES, units);
    expect(vehicleCalls()).toEqual([SIGNAL_NAMES.map((n) => SIGNALS[n].v2.path)]);
    expect([...answers.keys()]).toEqual(SIGNAL_NAMES);
    for (const name of SIGNAL_NAMES) {
      expect({ name, got: asCompared(answers.get(name)) }).toEqual({ name, got: await direct(credential.accessToken, id, name, units) });
    }
  }
  // A fuel car and an EV: each has signals that answer and signals that fail.
  const outcomes = await Promise.all(ids.map(async (id) => [...(await port.readSignals(credential, id, SIGNAL_NAMES, units)).values()].map((a) => a instanceof UpstreamError)));
  expect(outcomes.flat()).toContain(true);
  expect(outcomes.flat()).toContain(false);
});

test('one signal is one GET; a command changes what the next read says', async () => {
  const credential = await connect('driver@example.com');
  const [id] = sim.user('driver@example.com').vehicles.map((v) => v.id);
  const odometer = await port.readSignals(credential, id!, ['odometer'], 'metric');
  expect(vehicleCalls()).toEqual(['GET /odometer']);
  expect(odometer.get('odometer')).toEqual(await direct(credential.accessToken, id!, 'odometer', 'metric'));

  sim.resetRequests();
  expect(await port.command(credential, id!, 'lock')).toEqual({ status: 'success', message: expect.any(String) });
  expect((await port.readSignals(credential, id!, ['lockStatus'], 'metric')).get('lockStatus')).toMatchObject({ values: { isLocked: true } });
  expect(await port.command(credential, id!, 'unlock')).toMatchObject({ status: 'success' });
  expect((await port.readSignals(credential, id!, ['lockStatus'], 'metric')).get('lockStatus')).toMatchObject({ values: { isLocked: false } });
  expect(vehicleCalls()).toEqual(['POST /security', 'GET /security', 'POST /security', 'GET /security']);
});

test('after disconnect each signal is Smartcar’s refusal, never a throw', async () => {
  const credential = await connect('driver@example.com');
  const [id] = sim.user('driver@example.com').vehicles.map((v) => v.id);
  await port.disconnect(credential, id!);
  const answers = await port.readSignals(credential, id!, ['odometer', 'vin'], 'metric');
  expect([...answers.keys()]).toEqual(['odometer', 'vin']);
  // A token that no longer reaches the car: Smartcar's 401 AUTHENTICATION.
  for (const a of answers.values()) expect(asCompared(a)).toEqual({ status: 401, type: 'AUTHENTICATION', code: null });
  // The batch itself was refused: its failure is every signal's.
  expect(vehicleCalls()).toEqual(['DELETE /application', 'POST /batch']);
});

import express, { type NextFunction, type Request, type Response } from 'express';
import smartcar from 'smartcar';

/**
 * The baseline: a backend written the way Smartcar's getting-started Express tutorial is
 * (github.com/smartcar/getting-started-express, app/index.js): the `smartcar` SDK, the token pair in
 * a module-global variable, no cache, no session. Same SDK and HTTP client (Node's fetch) as the
 * gateway, so the comparison measures the design, not the client.
 *
 * - `GET /login` → 302 to Smartcar Connect; `GET /exchange?code=` → exchange, 302 /vehicle (the tutorial).
 * - `GET /vehicle` → the tutorial verbatim: `getVehicles`, then `attributes()` of the first car
 *   (two upstream requests), answered as `{id, make, model, year}` like the gateway's REST route.
 * - `GET /vehicle?lean=1` → a kinder baseline: the vehicle ids listed once at exchange, one upstream
 *   request (`attributes()`).
 * - `GET /dashboard?n=&m=` → the first `n` cars × the first `m` signals, one SDK call per endpoint
 *   (`vehicle.odometer()`, `vehicle.location()`, …) all in flight at once; `&seq=1` awaits them one
 *   after the other, as tutorial code usually reads. Vehicle ids come from the listing at exchange.
 *
 * Environment: PORT, HOST, SMARTCAR_CLIENT_ID, SMARTCAR_CLIENT_SECRET, SMARTCAR_REDIRECT_URI and the
 * SDK's own SMARTCAR_AUTH_ORIGIN / SMARTCAR_API_ORIGIN (read by the SDK at construction).
 */

const SCOPE = [
  'required:read_vehicle_info',
  'read_vin',
  'read_odometer',
  'read_location',
  'read_battery',
  'read_charge',
  'read_fuel',
  'read_engine_oil',
  'read_tires',
  'read_security',
];

/** The dashboard's signals, in the order the harness asks for them (M = the first m). */
export const BASELINE_SIGNALS = ['odometer', 'location', 'battery', 'fuel', 'charge', 'engineOil', 'tirePressure', 'lockStatus', 'vin'] as const;
type SignalName = (typeof BASELINE_SIGNALS)[number];

const client = new smartcar.AuthClient({
  clientId: process.env.SMARTCAR_CLIENT_ID,
  clientSecret: process.env.SMARTCAR_CLIENT_SECRET,
  redirectUri: process.env.SMARTCAR_REDIRECT_URI,
  mode: 'test',
});

// Global variables to save our access token (and the car ids listed after the exchange).
let access: smartcar.Access | undefined;
let vehicleIds: string[] = [];

const app = express();
app.disable('x-powered-by');
app.set('etag', false);

app.get('/login', (_req, res) => {
  res.redirect(client.getAuthUrl(SCOPE));
});

app.get('/exchange', async (req, res) => {
  const code = req.query.code;
  if (typeof code !== 'string') return void res.status(400).json({ error: 'code: required' });
  // In a production app you'd want to store this in some kind of persistent storage.
  access = await client.exchangeCode(code);
  vehicleIds = (await smartcar.getVehicles(access.accessToken, { limit: 50 })).vehicles;
  res.redirect('/vehicle');
});

function token(): string {
  if (!access) throw Object.assign(new Error('not connected: GET /login first'), { status: 401 });
  return access.accessToken;
}

app.get('/vehicle', async (req, res) => {
  const accessToken = token();
  const id = req.query.lean ? vehicleIds[0]! : (await smartcar.getVehicles(accessToken)).vehicles[0]!;
  const vehicle = new smartcar.Vehicle(id, accessToken);
  const attributes = await vehicle.attributes();
  res.json({ id: attributes.id, make: attributes.make, model: attributes.model, year: attributes.year });
});

function read(vehicle: smartcar.Vehicle, signal: SignalName): Promise<unknown> {
  switch (signal) {
    case 'odometer':
      return vehicle.odometer();
    case 'location':
      return vehicle.location();
    case 'battery':
      return vehicle.battery();
    case 'fuel':
      return vehicle.fuel();
    case 'charge':
      return vehicle.charge();
    case 'engineOil':
      return vehicle.engineOil();
    case 'tirePressure':
      return vehicle.tirePressure();
    case 'lockStatus':
      return vehicle.lockStatus();
    case 'vin':
      return vehicle.vin();
  }
}

/** Drops the SDK's `meta` (the gateway does not send it either). */
function strip(reading: unknown): unknown {
  if (!reading || typeof reading !== 'object') return reading;
  const { meta: _meta, ...rest } = reading as Record<string, unknown>;
  return rest;
}

app.get('/dashboard', async (req, res) => {
  const accessToken = token();
  const n = Math.min(Number(req.query.n ?? 1) || 1, vehicleIds.length);
  const signals = BASELINE_SIGNALS.slice(0, Math.min(Number(req.query.m ?? 1) || 1, BASELINE_SIGNALS.length));
  const ids = vehicleIds.slice(0, n);
  let vehicles: Record<string, unknown>[];
  if (req.query.seq) {
    vehicles = [];
    for (const id of ids) {
      const vehicle = new smartcar.Vehicle(id, accessToken);
      const out: Record<string, unknown> = { id };
      for (const s of signals) out[s] = strip(await read(vehicle, s));
      vehicles.push(out);
    }
  } else {
    vehicles = await Promise.all(
      ids.map(async (id) => {
        const vehicle = new smartcar.Vehicle(id, accessToken);
        const readings = await Promise.all(signals.map((s) => read(vehicle, s)));
        return Object.fromEntries([['id', id], ...signals.map((s, i) => [s, strip(readings[i])])]) as Record<string, unknown>;
      }),
    );
  }
  res.json({ vehicles });
});

app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
  const e = err as { status?: number; statusCode?: number; message?: string; type?: string };
  res.status(e.status ?? e.statusCode ?? 500).json({ error: e.type ?? 'ERROR', message: e.message ?? String(err) });
});

const server = app.listen(Number(process.env.PORT ?? 8000), process.env.HOST ?? '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'baseline ready', port: (server.address() as { port: number }).port }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

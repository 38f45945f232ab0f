import { createApp } from './app';
import { ConfigError, loadConfig } from './config';
import { StartupError } from './errors';
import { createLogger } from './logger';

/**
 * `npm run demo`: the whole flow with no browser and no internet (Apollo Sandbox loads from a CDN).
 * It starts the gateway with its built-in Smartcar simulator on a free port, then does over HTTP what
 * an app and a driver do: ask for a Connect URL, sign in on the consent page and allow, land on
 * /exchange, read the session's cars and a dashboard, lock a car, sign out. It prints every GraphQL
 * document it sends and the answers as tables. Needs only Redis (REDIS_URL, REDIS_KEY_PREFIX).
 */

const ACCOUNT = 'family@example.com';
const out = (line = '') => process.stdout.write(`${line}\n`);

interface GqlAnswer<T> {
  data: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } }[];
}

function table(rows: Record<string, string>[]): void {
  const columns = Object.keys(rows[0] ?? {});
  const width = (c: string) => Math.max(c.length, ...rows.map((r) => r[c]!.length));
  const line = (cells: string[]) => out(`   ${cells.map((s, i) => s.padEnd(width(columns[i]!))).join('  ')}`.trimEnd());
  line(columns);
  line(columns.map((c) => '-'.repeat(width(c))));
  for (const r of rows) line(columns.map((c) => r[c]!));
}

const percent = (fraction: unknown) => (typeof fraction === 'number' ? `${Math.round(fraction * 100)} %` : '—');
const km = (n: unknown) => (typeof n === 'number' ? `${Math.round(n).toLocaleString('en-US')} km` : '—');

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.smartcar.credentials) {
    throw new StartupError('npm run demo runs against the built-in Smartcar simulator: unset SMARTCAR_CLIENT_ID and SMARTCAR_CLIENT_SECRET.');
  }
  // A free loopback port, so it runs beside `npm start`; the gateway's own log: errors only, on stderr.
  const app = await createApp(
    { ...config, host: '127.0.0.1', port: 0, refresh: { ...config.refresh, sweepIntervalSec: 0 } },
    { logger: createLogger('error', process.stderr, 'pretty') },
  );
  let cookie = '';
  const gateway = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(new URL(path, app.url), { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie && { cookie }) } });
    const sid = res.headers.getSetCookie().find((c) => c.startsWith('sid='));
    if (sid) cookie = sid.split(';')[0]!;
    return res;
  };
  const gql = async <T>(query: string, variables?: Record<string, unknown>): Promise<GqlAnswer<T>> => {
    out('   POST /graphql');
    out(`     ${query}${variables ? `   variables ${JSON.stringify(variables)}` : ''}`);
    const res = await gateway('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const answer = (await res.json()) as GqlAnswer<T>;
    if (!answer.data) throw new Error(`the gateway answered ${res.status}: ${JSON.stringify(answer.errors)}`);
    return answer;
  };
  const elide = (url: string) => url.replace(/([?&](code|state)=)[^&]+/g, '$1…');

  try {
    out('Vehicle GraphQL gateway: the whole flow, in the terminal (no browser, no internet)');
    out(`   gateway    ${app.url}, with its built-in Smartcar simulator at ${app.simulator!.origin}`);
    out(`   Redis      ${new URL(config.redis.url).host}, keys under "${config.redis.keyPrefix}"`);
    out();

    out('1. The app asks the gateway for a Connect URL (this also gives it a session: cookie sid)');
    const { data: connect } = await gql<{ connectUrl: string }>('query { connectUrl }');
    out(`   → ${connect!.connectUrl.slice(0, 100)}…`);
    out();

    out(`2. The driver signs in as ${ACCOUNT} on the consent page and presses Allow`);
    const consentUrl = new URL(connect!.connectUrl);
    const page = await fetch(consentUrl);
    const html = await page.text();
    const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1];
    const appName = /id="app-name">([^<]*)</.exec(html)?.[1];
    if (page.status !== 200 || !requestId) throw new Error(`the consent page did not render (HTTP ${page.status})`);
    out(`   GET  ${consentUrl.pathname}?…   ${page.status}: "${appName} would like to: …"`);
    const form = new URLSearchParams({ request_id: requestId, username: ACCOUNT, password: 'any password', action: 'approve' });
    const decided = await fetch(new URL('authorize', consentUrl), { method: 'POST', body: form, redirect: 'manual' });
    const back = new URL(decided.headers.get('location') ?? '');
    out(`   POST ${consentUrl.pathname}   ${decided.status} → ${elide(back.href)}`);
    if (!back.searchParams.get('code')) throw new Error(`Connect did not return a code: ${back.search}`);
    // The redirect URI is the gateway's own /exchange: the driver's browser would follow it.
    const exchanged = await gateway(back.pathname + back.search);
    out(`   GET  ${elide(back.pathname + back.search)}   ${exchanged.status} → ${exchanged.headers.get('location')}`);
    if (exchanged.status !== 302) throw new Error(`the exchange failed: ${await exchanged.text()}`);
    out('   The gateway traded the code for Smartcar tokens, kept encrypted in Redis; the app never sees them.');
    out();

    out("3. The session's cars");
    type Car = { id: string; make: string; model: string; year: number };
    const { data: cars } = await gql<{ session: { connected: boolean }; vehicles: Car[] }>('query { session { connected } vehicles { id make model year } }');
    table(cars!.vehicles.map((v) => ({ make: v.make, model: v.model, year: String(v.year), id: v.id })));
    out();

    out('4. A dashboard: every reading of every car in one request (one Smartcar call per car)');
    type Dash = Car & {
      odometer: { distance: number } | null;
      battery: { percentRemaining: number; range: number } | null;
      fuel: { percentRemaining: number; range: number } | null;
      lockStatus: { isLocked: boolean } | null;
    };
    const dashboard = await gql<{ vehicles: Dash[] }>(
      'query { vehicles { make model odometer { distance } battery { percentRemaining range } fuel { percentRemaining range } lockStatus { isLocked } } }',
    );
    table(
      dashboard.data!.vehicles.map((v) => ({
        car: `${v.make} ${v.model}`,
        odometer: km(v.odometer?.distance),
        battery: v.battery ? `${percent(v.battery.percentRemaining)} · ${km(v.battery.range)}` : '—',
        fuel: v.fuel ? `${percent(v.fuel.percentRemaining)} · ${km(v.fuel.range)}` : '—',
        doors: v.lockStatus ? (v.lockStatus.isLocked ? 'locked' : 'unlocked') : '—',
      })),
    );
    const codes = [...new Set((dashboard.errors ?? []).map((e) => e.extensions?.code))];
    if (codes.some((c) => c !== 'COMPATIBILITY')) throw new Error(`the dashboard failed: ${JSON.stringify(dashboard.errors)}`);
    if (codes.length) out(`   "—": ${dashboard.errors!.length} fields are null with COMPATIBILITY in "errors" (a fuel car has no battery, an EV no tank).`);
    out();

    const car = cars!.vehicles[0]!;
    out(`5. A command: unlock the ${car.make} ${car.model}, then read its doors again`);
    const { data: unlock } = await gql<{ unlockVehicle: { status: string; message: string | null } }>(
      'mutation Unlock($id: ID!) { unlockVehicle(id: $id) { status message } }',
      { id: car.id },
    );
    table([{ status: unlock!.unlockVehicle.status, message: unlock!.unlockVehicle.message ?? '' }]);
    const { data: after } = await gql<{ vehicle: { lockStatus: { isLocked: boolean } | null } }>(
      'query Doors($id: ID!) { vehicle(id: $id) { lockStatus { isLocked } } }',
      { id: car.id },
    );
    out(`   → lockStatus.isLocked: ${after!.vehicle.lockStatus?.isLocked}`);
    out();

    out('6. Sign out: the session, its tokens and cached readings leave Redis');
    const { data: bye } = await gql<{ signOut: boolean }>('mutation { signOut }');
    out(`   → signOut: ${bye!.signOut}`);
    out();
    out('Done. `npm start` runs the same gateway for you to call (README: "Walk through it in Apollo Sandbox").');
  } finally {
    await app.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof ConfigError || err instanceof StartupError ? err.message : `The demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

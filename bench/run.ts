import { fanoutTable, ingestTable, measureFanout, measureIngest, type FanoutRow, type IngestRow } from './live';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectBaseline, connectGateway, type GatewaySession } from './connect';
import { runLoad, type LoadResult, type LoadTarget, type Round } from './load';
import { killAll, memoryMb, monitorRedis, startPrivateRedis, type PrivateRedis } from './procs';
import { readProfile, summarizeProfile, windowFits, type ProfileSummary } from './profile';
import type { UpstreamCounts } from './sim-process';
import { BENCH_DIR, newTokenKey, startBaseline, startCeiling, startGateway, startSim, type ServerProcess, type SimProcess } from './stack';
import { fmt, num, spread, table, type Spread } from './stats';

/**
 * `npm run bench [-- --quick]`: the gateway against a Smartcar-tutorial backend, side by side, on
 * this machine, in one run. See BENCHMARKS.md for what each part measures and the last full run.
 *
 * Topology (all loopback): the simulator in its own process (response delay 0 ms, then 50 ms), a
 * private redis-server, the gateway as in production (`node dist/main.js`, NODE_ENV=production,
 * LOG_LEVEL=warn), the baseline (bench/baseline-server.ts), and autocannon in this process.
 */

const QUICK = process.argv.includes('--quick');
const ROOT = resolve(BENCH_DIR, '../..');
const OUT_DIR = join(ROOT, '.bench-build', 'results');
/** The gateway is run from a copy of dist/, so a concurrent `npm run build` cannot change it mid-run. */
const DIST = join(ROOT, '.bench-build', 'dist');

const PLAN = QUICK ? { warmupSec: 0.5, roundSec: 1, rounds: 3 } : { warmupSec: 2, roundSec: 3, rounds: 3 };
/** Before the first measurement, every server runs each of its routes this long (JIT tiering). */
const JIT_WARMUP_SEC = QUICK ? 0.7 : 3;
/** The gateway sets a V8 heap growing factor at start (src/heap.ts); this node flag restores V8's
 * own (full run: what the setting buys, on the heaviest screen). */
const V8_DEFAULT_HEAP = '--heap-growing-percent=0';
/** Connections: enough to saturate a 2-core box at 0 ms; fewer (latency-bound) at 50 ms. */
const CONN = { tutorial: 32, dashboard: 16, delayed: 10 };
const GRID_N = QUICK ? [5] : [1, 5, 10];
const GRID_M = QUICK ? [5] : [1, 5, 9];
const DELAYED_N = QUICK ? [5] : [1, 5, 10];
const DELAY_MS = 50;
const STORM = QUICK ? { processes: 2, requests: 50, rounds: 1 } : { processes: 3, requests: 200, rounds: 3 };
const COLD_STARTS = QUICK ? 1 : 3;
const PROFILE_SEC = QUICK ? 1 : 5;
const PROFILE_WARMUP_SEC = QUICK ? 0.7 : 3;
const WATCHDOG_SEC = QUICK ? 420 : 40 * 60; // quick: generous, a shared machine is slow

/** The signals of a dashboard, in order: M = the first m. [GraphQL selection, baseline name]. */
const SIGNALS: { field: string; select: (maxAge: number) => string }[] = [
  { field: 'odometer', select: (a) => `odometer(maxAge: ${a}) { distance }` },
  { field: 'location', select: (a) => `location(maxAge: ${a}) { latitude longitude }` },
  { field: 'battery', select: (a) => `battery(maxAge: ${a}) { percentRemaining range }` },
  { field: 'fuel', select: (a) => `fuel(maxAge: ${a}) { percentRemaining range amountRemaining }` },
  { field: 'charge', select: (a) => `charge(maxAge: ${a}) { isPluggedIn state }` },
  { field: 'engineOil', select: (a) => `engineOil(maxAge: ${a}) { lifeRemaining }` },
  { field: 'tirePressure', select: (a) => `tirePressure(maxAge: ${a}) { frontLeft frontRight backLeft backRight }` },
  { field: 'lockStatus', select: (a) => `lockStatus(maxAge: ${a}) { isLocked }` },
  { field: 'vin', select: () => 'vin' },
];
const WARM_MAX_AGE = 3600;
const LOG_INFO_ROW = 'gateway, LOG_LEVEL=info (one access line per request): POST /graphql { vehicle { make model year } }';
const CEILING_ROW = 'ceiling: bare ApolloServer on node:http, fixed { vehicle { make model year } }';

const log = (...args: unknown[]) => console.error(`[bench ${((performance.now() - T0) / 1000).toFixed(1).padStart(5)}s]`, ...args);
const T0 = performance.now();

// ---------------------------------------------------------------------------------------------
// Results

interface Scenario {
  phase: string;
  name: string;
  server: ServerProcess['kind'];
  connections: number;
  rounds: Round[];
  valid: boolean;
  rps: Spread;
  p50: Spread;
  p99: Spread;
  cpuMsPerReq: Spread;
  simCpuMsPerReq: Spread;
  upstreamPerReq: Spread;
  dataPointsPerReq: Spread;
  redisCommandsPerReq: Spread;
  /** Exact, from one request alone (no load). */
  perRequest?: UpstreamCounts;
  /** Redis commands one request alone sends (round trips; commands inside scripts not counted). */
  redisRoundTrips?: Record<string, number>;
  warmupFailures: number;
  peakRssMb?: number;
  gatewayWarnLines?: number;
}

interface StormRound {
  mode: string;
  processes: number;
  requests: number;
  ok: number;
  firstOkMs: number;
  recoverMs: number;
  p50Ms: number;
  refreshes: number;
  sample?: string;
}

const results = {
  quick: QUICK,
  command: `npm run bench${QUICK ? ' -- --quick' : ''}`,
  startedAt: new Date().toISOString(),
  machine: {} as Record<string, string | number>,
  plan: { ...PLAN, connections: CONN, delayMs: DELAY_MS },
  scenarios: [] as Scenario[],
  storm: [] as StormRound[],
  baselineStorm: [] as StormRound[],
  coldStartMs: [] as number[],
  gatewayPeakRssMb: NaN,
  heaviestLoadRssMb: NaN,
  baselinePeakRssMb: NaN,
  profiles: {} as Record<string, { requests: number; cpuMsPerReq: number; windowed: boolean; summary: ProfileSummary }>,
  v8DefaultHeap: null as null | { peakRssMb: number; scenario: string; gatewayPeakRssMb: number },
  live: null as null | { ingest: IngestRow[]; fanout: FanoutRow; concurrency: number },
  notes: [] as string[],
};

function summarize(phase: string, name: string, server: Scenario['server'], connections: number, load: LoadResult): Scenario {
  const rounds = load.rounds;
  const pick = (f: (r: Round) => number) => spread(rounds.map(f));
  return {
    phase,
    name,
    server,
    connections,
    rounds,
    warmupFailures: load.warmupFailures,
    valid: load.warmupFailures === 0 && rounds.length > 0 && rounds.every((r) => r.valid),
    rps: pick((r) => r.rps),
    p50: pick((r) => r.p50),
    p99: pick((r) => r.p99),
    cpuMsPerReq: pick((r) => r.cpuMsPerReq),
    simCpuMsPerReq: pick((r) => r.simCpuMsPerReq),
    upstreamPerReq: pick((r) => r.upstreamPerReq),
    dataPointsPerReq: pick((r) => r.dataPointsPerReq),
    redisCommandsPerReq: pick((r) => r.redisCommandsPerReq),
  };
}

// ---------------------------------------------------------------------------------------------
// The stack

interface Stack {
  /** Key prefix of the main gateway (a second process on it shares its sessions). */
  prefix: string;
  redis: PrivateRedis;
  sim: SimProcess;
  gateway: ServerProcess;
  baseline: ServerProcess;
  /** A bare ApolloServer on node:http answering a fixed vehicle (bench/ceiling-server.ts). */
  ceiling: ServerProcess;
  tokenKey: string;
}

let stack: Stack | null = null;
const extraServers: ServerProcess[] = [];

function snapshotDist(): void {
  const built = join(ROOT, 'dist');
  if (!existsSync(join(built, 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` (npm run bench does)');
  rmSync(DIST, { recursive: true, force: true });
  cpSync(built, DIST, { recursive: true });
}

/** The commit measured, and whether src/ differed from it (another engineer may be editing). */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'package.json', 'package-lock.json'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted changes in src/ or package files` : head;
  } catch {
    return 'unknown (no git)';
  }
}

function machineInfo(): Record<string, string | number> {
  const c = cpus();
  return {
    revision: revision(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memoryGb: Number((totalmem() / 2 ** 30).toFixed(1)),
    freeMemoryGbAtStart: Number((freemem() / 2 ** 30).toFixed(1)),
    node: process.version,
    loadAverageAtStart: loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

function observe(server: ServerProcess, sim: SimProcess, redis: PrivateRedis) {
  return { serverPid: server.pid, simPid: sim.pid, upstream: () => sim.counts(true), redisCommands: () => redis.commands() };
}

interface Entry {
  name: string;
  server: ServerProcess;
  target: LoadTarget;
  /** One request alone, for exact upstream and Redis counts (also fills a warm cache). */
  perRequest?: () => Promise<unknown>;
}

async function measure(phase: string, name: string, server: ServerProcess, target: LoadTarget, connections: number, perRequest?: () => Promise<unknown>): Promise<Scenario> {
  return (await measureTogether(phase, [{ name, server, target, ...(perRequest && { perRequest }) }], connections))[0]!;
}

/**
 * Scenarios compared with each other, measured together: exact counts and warm-up for each, then
 * their rounds interleaved (A B C, C B A, A B C) so that the drift of a shared machine (another
 * tenant's load comes and goes within minutes) hits each of them alike and their ratios stay honest.
 */
async function measureTogether(phase: string, entries: Entry[], connections: number): Promise<Scenario[]> {
  const s = stack!;
  const exact = new Map<Entry, { counts: UpstreamCounts; roundTrips: Record<string, number> }>();
  for (const e of entries) {
    if (!e.perRequest) continue;
    await e.perRequest(); // fills what a warm-cache scenario needs
    await quiesce();
    const monitor = await monitorRedis(s.redis.port);
    await e.perRequest();
    const roundTrips = await monitor.stop();
    exact.set(e, { counts: await s.sim.counts(true), roundTrips });
  }
  const warm = new Map<Entry, LoadResult>();
  for (const e of entries) warm.set(e, await runLoad(e.target, { connections, warmupSec: PLAN.warmupSec, roundSec: 0, rounds: 0 }, observe(e.server, s.sim, s.redis)));
  const warn0 = new Map(entries.map((e) => [e, e.server.warnCount()]));
  const rounds = new Map<Entry, Round[]>(entries.map((e) => [e, []]));
  for (let i = 0; i < PLAN.rounds; i++) {
    for (const e of i % 2 ? [...entries].reverse() : entries) {
      const one = await runLoad(e.target, { connections, warmupSec: 0, roundSec: PLAN.roundSec, rounds: 1 }, observe(e.server, s.sim, s.redis));
      rounds.get(e)!.push(...one.rounds);
    }
  }
  const out: Scenario[] = [];
  for (const e of entries) {
    const w = warm.get(e)!;
    const load: LoadResult = { rounds: rounds.get(e)!, warmupFailures: w.warmupFailures, ...(w.warmupSample !== undefined && { warmupSample: w.warmupSample }) };
    const sc = summarize(phase, e.name, e.server.kind, connections, load);
    const x = exact.get(e);
    if (x) {
      sc.perRequest = x.counts;
      sc.redisRoundTrips = x.roundTrips;
    }
    if (e.server.kind === 'gateway') {
      sc.gatewayWarnLines = e.server.warnCount() - warn0.get(e)!;
      sc.peakRssMb = memoryMb(e.server.pid).rss;
    }
    results.scenarios.push(sc);
    const sample = load.warmupSample ?? load.rounds.find((r) => r.sample)?.sample ?? '';
    const flag = sc.valid
      ? ''
      : `  INVALID: warm-up failures ${load.warmupFailures}; ${load.rounds.map((r) => `errors ${r.errors}, non2xx ${r.non2xx}, wrong bodies ${r.mismatches}, timeouts ${r.timeouts}`).join(' / ')} ${sample}`;
    log(`${phase} | ${e.name}: ${fmt(sc.rps, 0)} req/s, p50 ${fmt(sc.p50)} ms, p99 ${fmt(sc.p99)} ms, CPU ${fmt(sc.cpuMsPerReq)} ms/req${flag}`);
    if (!sc.valid && /RATE_LIMITED|429/.test(sample)) {
      results.notes.push(`${e.name}: the gateway rate-limited the load (429). Set the README's RATE_LIMIT_* variable that disables or raises it in bench/stack.ts startGateway().`);
    }
    out.push(sc);
  }
  return out;
}

/** Current response delay of the simulator. */
let delayMs = 0;

async function setDelay(ms: number): Promise<void> {
  await stack!.sim.call({ cmd: 'configure', patch: { latencyMs: ms } });
  delayMs = ms;
}

/** Waits until the upstream has been quiet for a while: requests still in flight from the previous
 * load (cut off by the end of a round) must not be counted against the next scenario. */
async function quiesce(): Promise<void> {
  const s = stack!;
  const deadline = performance.now() + 5_000;
  for (;;) {
    await s.sim.counts(true);
    await sleep(150 + 3 * delayMs);
    const c = await s.sim.counts(true);
    if (c.api + c.refreshes + c.codeExchanges === 0) return;
    if (performance.now() > deadline) {
      results.notes.push('the upstream did not fall quiet within 5 s before an exact count; that count may include stragglers');
      return;
    }
  }
}

/** Runs every target briefly, unmeasured: the servers' hot paths get optimised before round one. */
async function jitWarmup(targets: LoadTarget[], connections: number): Promise<void> {
  const s = stack!;
  for (const t of targets) {
    await runLoad(t, { connections, warmupSec: JIT_WARMUP_SEC, roundSec: 0, rounds: 0 }, observe(s.gateway, s.sim, s.redis));
  }
}

const roundTripCount = (s: Scenario | undefined) => (s?.redisRoundTrips ? Object.values(s.redisRoundTrips).reduce((a, b) => a + b, 0) : NaN);

const post = (url: string, body: string, cookie?: string): Omit<LoadTarget, 'verify'> => ({
  url,
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(cookie && { cookie }) },
  body,
});

async function fetchText(url: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, text: await res.text() };
}

/** A fixed answer, checked once by meaning, then byte for byte under load. */
async function exactAnswer(what: string, url: string, init: RequestInit, check: (parsed: unknown) => boolean): Promise<string> {
  const { status, text } = await fetchText(url, init);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (status !== 200 || !check(parsed)) throw new Error(`${what}: unexpected answer (HTTP ${status}): ${text.slice(0, 300)}`);
  return text;
}

interface Sessions {
  byN: Map<number, GatewaySession>;
  one: GatewaySession;
  users: Map<number, string>;
}

const dashboardQuery = (m: number, maxAge: number) => `{ vehicles { id ${SIGNALS.slice(0, m).map((s) => s.select(maxAge)).join(' ')} } }`;

function checkVehicles(vehicles: unknown, n: number, m: number): boolean {
  if (!Array.isArray(vehicles) || vehicles.length !== n) return false;
  const fields = SIGNALS.slice(0, m).map((s) => s.field);
  return vehicles.every((v: Record<string, unknown> | null) => v !== null && typeof v.id === 'string' && fields.every((f) => v[f] !== null && v[f] !== undefined));
}

const verifyGatewayDashboard = (n: number, m: number) => (body: string) => {
  try {
    const b = JSON.parse(body) as { data?: { vehicles?: unknown }; errors?: unknown };
    return b.errors === undefined && checkVehicles(b.data?.vehicles, n, m);
  } catch {
    return false;
  }
};

const verifyBaselineDashboard = (n: number, m: number) => (body: string) => {
  try {
    return checkVehicles((JSON.parse(body) as { vehicles?: unknown }).vehicles, n, m);
  } catch {
    return false;
  }
};

async function tutorialPhase(phase: string, s: Stack, sessions: Sessions, connections: number, full: boolean): Promise<void> {
  const gw = s.gateway.url;
  const cookie = sessions.one.cookie;
  const isCar = (v: unknown) => {
    const c = v as { make?: unknown; model?: unknown; year?: unknown } | null;
    return !!c && typeof c.make === 'string' && typeof c.model === 'string' && typeof c.year === 'number';
  };
  // The same account on both sides, so both answer the same car.
  const tutorialBody = await exactAnswer(`${phase} baseline /vehicle`, `${s.baseline.url}/vehicle`, {}, isCar);
  const leanBody = await exactAnswer(`${phase} baseline /vehicle?lean=1`, `${s.baseline.url}/vehicle?lean=1`, {}, isCar);
  const gqlQuery = JSON.stringify({ query: '{ vehicle { make model year } }' });
  const gqlBody = await exactAnswer(`${phase} gateway vehicle`, `${gw}/graphql`, post(gw, gqlQuery, cookie), (p) => isCar((p as { data?: { vehicle?: unknown } }).data?.vehicle));
  const restBody = await exactAnswer(`${phase} gateway REST /vehicle`, `${gw}/vehicle`, { headers: { cookie } }, isCar);
  if (JSON.stringify(JSON.parse(restBody)) !== JSON.stringify(JSON.parse(tutorialBody))) {
    throw new Error(`gateway and baseline answer different cars: ${restBody} vs ${tutorialBody}`);
  }
  const typenameQuery = JSON.stringify({ query: '{ __typename }' });
  const typenameBody = await exactAnswer(`${phase} __typename`, `${gw}/graphql`, post(gw, typenameQuery, cookie), (p) => (p as { data?: { __typename?: string } }).data?.__typename === 'Query');

  const get = (url: string, headers: Record<string, string> = {}) => fetchText(url, { headers }).then(() => undefined);
  const entries: Entry[] = [
    { name: 'baseline GET /vehicle (tutorial: getVehicles + attributes)', server: s.baseline, target: { url: `${s.baseline.url}/vehicle`, method: 'GET', headers: {}, verify: (b) => b === tutorialBody }, perRequest: () => get(`${s.baseline.url}/vehicle`) },
  ];
  if (full) {
    entries.push({ name: 'baseline GET /vehicle?lean=1 (ids kept: attributes only)', server: s.baseline, target: { url: `${s.baseline.url}/vehicle?lean=1`, method: 'GET', headers: {}, verify: (b) => b === leanBody }, perRequest: () => get(`${s.baseline.url}/vehicle?lean=1`) });
  }
  entries.push({
    name: 'gateway POST /graphql { vehicle { make model year } }',
    server: s.gateway,
    target: { ...post(`${gw}/graphql`, gqlQuery, cookie), verify: (b) => b === gqlBody },
    perRequest: () => fetchText(`${gw}/graphql`, post(gw, gqlQuery, cookie)).then(() => undefined),
  });
  if (full || phase.startsWith('0 ms')) {
    entries.push({ name: 'gateway GET /vehicle (REST)', server: s.gateway, target: { url: `${gw}/vehicle`, method: 'GET', headers: { cookie }, verify: (b) => b === restBody }, perRequest: () => get(`${gw}/vehicle`, { cookie }) });
  }
  if (phase.startsWith('0 ms')) {
    // Same document, same answer shape, same rounds: what Apollo alone answers on node:http.
    const ceilingBody = await exactAnswer(`${phase} ceiling vehicle`, `${s.ceiling.url}/graphql`, post(s.ceiling.url, gqlQuery), (p) => isCar((p as { data?: { vehicle?: unknown } }).data?.vehicle));
    entries.push({ name: CEILING_ROW, server: s.ceiling, target: { ...post(`${s.ceiling.url}/graphql`, gqlQuery), verify: (b) => b === ceilingBody } });
    entries.push({ name: 'gateway POST /graphql { __typename } (Apollo ceiling)', server: s.gateway, target: { ...post(`${gw}/graphql`, typenameQuery, cookie), verify: (b) => b === typenameBody } });
  }
  let limited: ServerProcess | null = null;
  if (full && phase.startsWith('0 ms')) {
    // Production runs with the rate limiter on; one client cannot stay under its limits, so they are
    // raised: this row is what the limiter itself costs (two Redis round trips per request).
    limited = await startGateway({
      dist: DIST,
      redisUrl: s.redis.url,
      prefix: s.prefix,
      tokenKey: s.tokenKey,
      sim: s.sim,
      name: 'gateway-rate-limited',
      env: { RATE_LIMIT_IP_PER_MIN: '1000000', RATE_LIMIT_SESSION_PER_MIN: '1000000' },
    });
    extraServers.push(limited);
    const url = limited.url;
    entries.push({
      name: 'gateway, rate limits on (10⁶/min): POST /graphql { vehicle { make model year } }',
      server: limited,
      target: { ...post(`${url}/graphql`, gqlQuery, cookie), verify: (b) => b === gqlBody },
      perRequest: () => fetchText(`${url}/graphql`, post(url, gqlQuery, cookie)).then(() => undefined),
    });
  }
  let logging: ServerProcess | null = null;
  if (full && phase.startsWith('0 ms')) {
    // Production's default log level writes one access line per request: this row is what it costs
    // (the other gateways run at LOG_LEVEL=warn, which writes none).
    logging = await startGateway({ dist: DIST, redisUrl: s.redis.url, prefix: s.prefix, tokenKey: s.tokenKey, sim: s.sim, name: 'gateway-log-info', env: { LOG_LEVEL: 'info' } });
    extraServers.push(logging);
    const url = logging.url;
    entries.push({
      name: LOG_INFO_ROW,
      server: logging,
      target: { ...post(`${url}/graphql`, gqlQuery, cookie), verify: (b) => b === gqlBody },
      perRequest: () => fetchText(`${url}/graphql`, post(url, gqlQuery, cookie)).then(() => undefined),
    });
  }
  try {
    await measureTogether(phase, entries, connections);
  } finally {
    await limited?.stop();
    await logging?.stop();
  }
}

async function dashboardPhase(phase: string, s: Stack, sessions: Sessions, ns: number[], ms: number[], connections: number, withSeq: boolean): Promise<void> {
  const gw = s.gateway.url;
  for (const n of ns) {
    const session = sessions.byN.get(n)!;
    for (const m of ms) {
      const entries: Entry[] = [];
      for (const maxAge of QUICK && phase.startsWith(`${DELAY_MS} ms`) ? [0] : [0, WARM_MAX_AGE]) {
        const body = JSON.stringify({ query: dashboardQuery(m, maxAge) });
        const target = { ...post(`${gw}/graphql`, body, session.cookie), verify: verifyGatewayDashboard(n, m) };
        const one = async () => {
          const r = await fetchText(`${gw}/graphql`, post(gw, body, session.cookie));
          if (r.status !== 200 || !target.verify(r.text)) throw new Error(`gateway dashboard ${n}x${m}: ${r.text.slice(0, 300)}`);
        };
        entries.push({ name: `gateway dashboard N=${n} M=${m} ${maxAge === 0 ? 'maxAge 0' : 'warm cache'}`, server: s.gateway, target, perRequest: one });
      }
      for (const seq of withSeq && n === 5 && m === 5 ? [false, true] : [false]) {
        const url = `${s.baseline.url}/dashboard?n=${n}&m=${m}${seq ? '&seq=1' : ''}`;
        const verify = verifyBaselineDashboard(n, m);
        const one = async () => {
          const r = await fetchText(url);
          if (r.status !== 200 || !verify(r.text)) throw new Error(`baseline dashboard ${n}x${m}: ${r.text.slice(0, 300)}`);
        };
        entries.push({ name: `baseline dashboard N=${n} M=${m}${seq ? ' (awaits one by one)' : ''}`, server: s.baseline, target: { url, method: 'GET', headers: {}, verify }, perRequest: one });
      }
      await measureTogether(phase, entries, connections);
    }
  }
}
/**
 * What an abusive query costs next to an ordinary one: queries over the selection bound (the token
 * limit allows 1900 fields; half of that shows what the parse costs) and one that repeats a
 * sub-selection ~490 times, refused with 400, against a small served query, interleaved. Before the bounds, graphql-js's validation spent ~9 ms
 * and ~140 ms on them (OverlappingFieldsCanBeMerged compares repeated fields pairwise).
 */
async function refusedQueriesPhase(phase: string, s: Stack, sessions: Sessions, connections: number): Promise<void> {
  const gw = s.gateway.url;
  const cookie = sessions.one.cookie;
  const small = JSON.stringify({ query: '{ session { connected } }' });
  const smallBody = await exactAnswer(`${phase} small query`, `${gw}/graphql`, post(gw, small, cookie), (p) => (p as { data?: { session?: { connected?: boolean } } }).data?.session?.connected === true);
  const refused = async (what: string, query: string): Promise<Entry> => {
    const body = JSON.stringify({ query });
    const { status, text } = await fetchText(`${gw}/graphql`, post(gw, body, cookie));
    const code = (JSON.parse(text) as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code;
    if (status !== 400 || code !== 'GRAPHQL_VALIDATION_FAILED') throw new Error(`${phase} ${what}: expected a 400 GRAPHQL_VALIDATION_FAILED, got HTTP ${status}: ${text.slice(0, 300)}`);
    return { name: `gateway refuses (400) ${what}`, server: s.gateway, target: { ...post(`${gw}/graphql`, body, cookie), status: 400, verify: (b) => b === text } };
  };
  const entries: Entry[] = [
    { name: 'gateway POST /graphql { session { connected } } (served)', server: s.gateway, target: { ...post(`${gw}/graphql`, small, cookie), verify: (b) => b === smallBody } },
    await refused('{ session { connected ×1900 } } (1905 tokens)', `{ session { ${'connected '.repeat(1900)} } }`),
    await refused('{ session { connected ×990 } } (995 tokens)', `{ session { ${'connected '.repeat(990)} } }`),
    await refused('{ vehicle { odometer { distance } ×490 } } (1965 tokens)', `{ vehicle { ${'odometer { distance } '.repeat(490)} } }`),
  ];
  await measureTogether(phase, entries, connections);
}

async function unloadedLatency(phase: string, s: Stack, sessions: Sessions, ns: number[]): Promise<void> {
  const gw = s.gateway.url;
  const entries: Entry[] = ns.map((n) => {
    const body = JSON.stringify({ query: dashboardQuery(5, 0) });
    return { name: `gateway dashboard N=${n} M=5 maxAge 0, 1 connection`, server: s.gateway, target: { ...post(`${gw}/graphql`, body, sessions.byN.get(n)!.cookie), verify: verifyGatewayDashboard(n, 5) } };
  });
  const url = `${s.baseline.url}/dashboard?n=5&m=5`;
  entries.push({ name: 'baseline dashboard N=5 M=5, 1 connection', server: s.baseline, target: { url, method: 'GET', headers: {}, verify: verifyBaselineDashboard(5, 5) } });
  await measureTogether(phase, entries, 1);
}
async function refreshStorm(s: Stack, tag: string): Promise<void> {
  const prefix = `bstorm${tag}:`;
  const gateways: ServerProcess[] = [];
  for (let i = 0; i < STORM.processes; i++) {
    const g = await startGateway({ dist: DIST, redisUrl: s.redis.url, prefix, tokenKey: s.tokenKey, sim: s.sim, name: `storm-${i}` });
    gateways.push(g);
    extraServers.push(g);
  }
  const query = JSON.stringify({ query: '{ vehicle { odometer(maxAge: 0) { distance } } }' });
  try {
    for (const mode of ['expired', 'revoked'] as const) {
      for (let round = 0; round < STORM.rounds; round++) {
        const username = `bench-${tag}-storm-${mode}-${round}+1+phev@example.com`;
        let session: GatewaySession;
        if (mode === 'expired') {
          // A 2-s access token; the gateway refreshes it before use from 1 s (half its life).
          await s.sim.call({ cmd: 'configure', patch: { accessTokenTtlSec: 2 } });
          session = await connectGateway(gateways[0]!.url, username).finally(() => s.sim.call({ cmd: 'configure', patch: { accessTokenTtlSec: 7200 } }));
          await sleep(2_300);
        } else {
          // Smartcar revokes the access token early: every request gets 401 until one refresh.
          session = await connectGateway(gateways[0]!.url, username);
          await s.sim.call({ cmd: 'expire', username });
        }
        await s.sim.counts(true);
        const t0 = performance.now();
        const answers = await Promise.all(
          Array.from({ length: STORM.requests }, async (_, i) => {
            const g = gateways[i % gateways.length]!;
            try {
              const r = await fetchText(`${g.url}/graphql`, post(g.url, query, session.cookie));
              const ok = r.status === 200 && /"odometer":\{"distance":[\d.]+\}/.test(r.text) && !r.text.includes('"errors"');
              return { ok, ms: performance.now() - t0, text: r.text };
            } catch (err) {
              return { ok: false, ms: performance.now() - t0, text: String(err) };
            }
          }),
        );
        await sleep(50);
        const up = await s.sim.counts(true);
        const ok = answers.filter((a) => a.ok);
        const times = answers.map((a) => a.ms).sort((a, b) => a - b);
        const r: StormRound = {
          mode,
          processes: gateways.length,
          requests: STORM.requests,
          ok: ok.length,
          firstOkMs: Math.min(...ok.map((a) => a.ms)),
          recoverMs: Math.max(...answers.map((a) => a.ms)),
          p50Ms: times[Math.floor(times.length / 2)]!,
          refreshes: up.refreshes,
          ...(ok.length < answers.length && { sample: answers.find((a) => !a.ok)!.text.slice(0, 300) }),
        };
        results.storm.push(r);
        log(`storm ${mode} #${round + 1}: ${r.ok}/${r.requests} ok across ${r.processes} processes, all answered in ${num(r.recoverMs)} ms, refreshes ${r.refreshes}${r.sample ? ` (${r.sample})` : ''}`);
      }
    }
  } finally {
    for (const g of gateways) await g.stop();
  }

  // The tutorial backend with an expired token: it never refreshes.
  await s.sim.call({ cmd: 'configure', patch: { accessTokenTtlSec: 2 } });
  await connectBaseline(s.baseline.url, `bench-${tag}-storm-baseline+1+phev@example.com`).finally(() => s.sim.call({ cmd: 'configure', patch: { accessTokenTtlSec: 7200 } }));
  await sleep(2_300);
  await s.sim.counts(true);
  const t0 = performance.now();
  const answers = await Promise.all(
    Array.from({ length: STORM.requests }, async () => {
      const r = await fetchText(`${s.baseline.url}/vehicle?lean=1`).catch((err: unknown) => ({ status: 0, text: String(err) }));
      return { ok: r.status === 200, ms: performance.now() - t0, text: `HTTP ${r.status} ${r.text}` };
    }),
  );
  const up = await s.sim.counts(true);
  const ok = answers.filter((a) => a.ok);
  const b: StormRound = {
    mode: 'expired (baseline)',
    processes: 1,
    requests: STORM.requests,
    ok: ok.length,
    firstOkMs: ok.length ? Math.min(...ok.map((a) => a.ms)) : NaN,
    recoverMs: ok.length === answers.length ? Math.max(...answers.map((a) => a.ms)) : NaN,
    p50Ms: NaN,
    refreshes: up.refreshes,
    ...(ok.length < answers.length && { sample: answers.find((a) => !a.ok)!.text.slice(0, 200) }),
  };
  results.baselineStorm.push(b);
  log(`storm baseline: ${b.ok}/${b.requests} ok, refreshes ${b.refreshes} ${b.sample ?? ''}`);
}

// ---------------------------------------------------------------------------------------------
// (5) CPU profiles of the hot path

async function profileRun(s: Stack, tag: string, label: string, makeTarget: (url: string, session: GatewaySession | null) => Promise<LoadTarget>, needsSession: boolean): Promise<void> {
  const dir = join(ROOT, '.bench-build', 'profiles', `${tag}-${label}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const g = await startGateway({
    dist: DIST,
    redisUrl: s.redis.url,
    prefix: `bprof${tag}${label}:`,
    tokenKey: s.tokenKey,
    sim: s.sim,
    name: `profile-${label}`,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir],
  });
  extraServers.push(g);
  let requests = 0;
  let cpuMsPerReq = NaN;
  let window: { fromUs: number; toUs: number } | null = null;
  try {
    const session = needsSession ? await connectGateway(g.url, `bench-${tag}-prof-${label}+5+phev@example.com`) : null;
    const target = await makeTarget(g.url, session);
    const observed = observe(g, s.sim, s.redis);
    await runLoad(target, { connections: CONN.tutorial, warmupSec: PROFILE_WARMUP_SEC, roundSec: 0, rounds: 0 }, observed);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const load = await runLoad(target, { connections: CONN.tutorial, warmupSec: 0, roundSec: PROFILE_SEC, rounds: 1 }, observed);
    window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
    const round = load.rounds[0]!;
    requests = round.requests;
    cpuMsPerReq = round.cpuMsPerReq;
    if (!round.valid) results.notes.push(`profile ${label}: the profiled load had errors (${round.sample ?? ''})`);
  } finally {
    await g.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) {
    results.notes.push(`profile ${label}: no .cpuprofile was written in ${dir}`);
    return;
  }
  // Only the samples of the measured round (both clocks are the machine's monotonic clock).
  const profile = readProfile(join(dir, file));
  const windowed = window !== null && windowFits(profile, window);
  if (!windowed) results.notes.push(`profile ${label}: the measured window did not fit the profile's clock; the whole profile (start-up included) is summarised`);
  const summary = summarizeProfile(profile, 15, windowed ? window! : undefined);
  results.profiles[label] = { requests, cpuMsPerReq, windowed, summary };
  log(`profile ${label}: ${requests} requests, ${num(cpuMsPerReq)} ms CPU each (profiler on), ${windowed ? 'window' : 'whole profile'}: on CPU ${num(summary.busyMs)} ms (${join(dir, file)})`);
}

async function profiles(s: Stack, tag: string): Promise<void> {
  const typename = JSON.stringify({ query: '{ __typename }' });
  await profileRun(s, tag, 'typename', async (url) => ({ ...post(`${url}/graphql`, typename), verify: (b) => b.includes('"__typename":"Query"') && !b.includes('"errors"') }), false);
  const tutorial = JSON.stringify({ query: '{ vehicle { make model year } }' });
  await profileRun(
    s,
    tag,
    'tutorial',
    async (url, session) => {
      const t = { ...post(`${url}/graphql`, tutorial, session!.cookie), verify: (b: string) => b.startsWith('{"data":{"vehicle":{"make":') && !b.includes('"errors"') };
      await fetchText(`${url}/graphql`, t); // caches the attributes
      return t;
    },
    true,
  );
  if (!QUICK) {
    const dash = JSON.stringify({ query: dashboardQuery(5, 0) });
    await profileRun(s, tag, 'dashboard-5x5-maxAge0', async (url, session) => ({ ...post(`${url}/graphql`, dash, session!.cookie), verify: verifyGatewayDashboard(5, 5) }), true);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function find(phase: string, name: string): Scenario | undefined {
  return results.scenarios.find((s) => s.phase === phase && s.name === name);
}

/** a / b of the median req/s, with the range the two spreads allow. */
function ratio(a: Scenario | undefined, b: Scenario | undefined): Spread {
  if (!a || !b) return spread([]);
  return { median: a.rps.median / b.rps.median, min: a.rps.min / b.rps.max, max: a.rps.max / b.rps.min };
}

const exactOr = (v: number | undefined) => (v === undefined ? '–' : String(v));

function scenarioRows(list: Scenario[]): string[][] {
  return list.map((s) => [
    `${s.name}${s.valid ? '' : ' **INVALID**'}`,
    fmt(s.rps, 0),
    fmt(s.p50),
    fmt(s.p99),
    fmt(s.cpuMsPerReq, 3),
    exactOr(s.perRequest?.api),
    exactOr(s.perRequest?.dataPoints),
    s.server === 'gateway' ? num(roundTripCount(s), 0) : '–',
    fmt(s.simCpuMsPerReq, 3),
  ]);
}

const SCENARIO_HEADER = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'server CPU ms/req', 'upstream req/req', 'billed data points/req', 'Redis round trips/req', 'simulator CPU ms/req'];

type Target = { target: string; value: string; met: boolean | null };

function report(): { markdown: string; targets: Target[] } {
  const out: string[] = [];
  const m = results.machine;
  out.push(`Command: \`${results.command}\` — started ${results.startedAt}, ${QUICK ? 'QUICK (smoke-test lengths: numbers are indicative only)' : 'full'} run, ${m.durationSec} s; gateway built from ${m.revision}.`);
  out.push(`Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB RAM, Node ${m.node}; load average at start ${m.loadAverageAtStart}, at end ${m.loadAverageAtEnd}.`);
  out.push(
    `Plan: every server first runs each of its routes ${JIT_WARMUP_SEC} s unmeasured (JIT); then per scenario a ${PLAN.warmupSec}-s warm-up (not counted) and ${PLAN.rounds} rounds, each measuring a ${PLAN.roundSec}-s steady-state window, the rounds of the scenarios compared with each other (a tutorial-job phase; one dashboard size) interleaved (A B C, C B A, A B C) so that the machine's drift hits them alike; figures are median (min–max) over the rounds. Connections: ${CONN.tutorial} (tutorial job, 0 ms), ${CONN.dashboard} (dashboards, 0 ms), ${CONN.delayed} (50 ms upstream delay).`,
  );
  out.push(
    'Upstream requests, billed data points and Redis round trips per request are exact counts for one request alone (simulator record; Redis MONITOR, commands inside Lua scripts not counted). CPU is the server process\'s own utime+stime over the window divided by the requests answered in it.\n',
  );

  const phases = [...new Set(results.scenarios.map((s) => s.phase))];
  for (const phase of phases) {
    out.push(`### ${phase}\n`);
    out.push(table(SCENARIO_HEADER, scenarioRows(results.scenarios.filter((s) => s.phase === phase))));
    out.push('');
  }

  // (1) ratios
  const p0 = phases.find((p) => p.startsWith('0 ms')) ?? '';
  const p50 = phases.find((p) => p.startsWith(`${DELAY_MS} ms`)) ?? '';
  const names = {
    blTut: 'baseline GET /vehicle (tutorial: getVehicles + attributes)',
    blLean: 'baseline GET /vehicle?lean=1 (ids kept: attributes only)',
    gwGql: 'gateway POST /graphql { vehicle { make model year } }',
    gwRest: 'gateway GET /vehicle (REST)',
    gwType: 'gateway POST /graphql { __typename } (Apollo ceiling)',
    ceiling: CEILING_ROW,
  };
  out.push('### (1) Tutorial job: gateway / baseline\n');
  const ratioRows: string[][] = [];
  for (const phase of [p0, p50]) {
    for (const [label, a, b] of [
      ['`{ __typename }` (Apollo\'s ceiling) vs tutorial /vehicle', names.gwType, names.blTut],
      ['GraphQL vs tutorial /vehicle', names.gwGql, names.blTut],
      ['GraphQL vs the ceiling row (bare Apollo on node:http)', names.gwGql, names.ceiling],
      ['`{ __typename }` vs the ceiling row', names.gwType, names.ceiling],
      ['GraphQL at LOG_LEVEL=info vs at warn (the access line)', LOG_INFO_ROW, names.gwGql],
      ['REST vs tutorial /vehicle', names.gwRest, names.blTut],
      ['GraphQL vs lean /vehicle', names.gwGql, names.blLean],
      ['REST vs lean /vehicle', names.gwRest, names.blLean],
    ] as const) {
      const x = find(phase, a);
      const y = find(phase, b);
      if (!x || !y) continue;
      ratioRows.push([
        `${phase}: ${label}`,
        fmt(ratio(x, y)),
        num(x.cpuMsPerReq.median / y.cpuMsPerReq.median),
        num((x.cpuMsPerReq.median + x.simCpuMsPerReq.median) / (y.cpuMsPerReq.median + y.simCpuMsPerReq.median)),
        `${num(x.p50.median)} / ${num(y.p50.median)}`,
      ]);
    }
  }
  out.push(table(['comparison', 'req/s ratio', 'server CPU/req ratio', '(server + simulator) CPU/req ratio', 'p50 ms gateway / baseline'], ratioRows));
  out.push('');

  // (2)/(3) dashboard grid
  const dashPhases = phases.filter((p) => results.scenarios.some((s) => s.phase === p && s.name.startsWith('gateway dashboard')));
  for (const phase of dashPhases) {
    const rows: string[][] = [];
    const keys = [
      ...new Set(results.scenarios.filter((s) => s.phase === phase && s.name.startsWith('gateway dashboard') && !s.name.endsWith('1 connection')).map((s) => /N=(\d+) M=(\d+)/.exec(s.name)!.slice(1).join('x'))),
    ];
    for (const k of keys) {
      const [n, mm] = k.split('x').map(Number) as [number, number];
      const g0 = find(phase, `gateway dashboard N=${n} M=${mm} maxAge 0`);
      const gw = find(phase, `gateway dashboard N=${n} M=${mm} warm cache`);
      const bl = find(phase, `baseline dashboard N=${n} M=${mm}`);
      const three = (f: (s: Scenario) => string) => [g0, gw, bl].map((s) => (s ? f(s) : '–')).join(' / ');
      rows.push([
        `${n} × ${mm}`,
        three((s) => exactOr(s.perRequest?.api)),
        three((s) => exactOr(s.perRequest?.dataPoints)),
        `${num(roundTripCount(g0), 0)} / ${num(roundTripCount(gw), 0)}`,
        three((s) => `${num(s.rps.median, 0)}${s.valid ? '' : '!'}`),
        `${fmt(ratio(g0, bl))} / ${fmt(ratio(gw, bl))}`,
        three((s) => num(s.p50.median)),
        three((s) => num(s.cpuMsPerReq.median, 2)),
        three((s) => num((1000 * s.cpuMsPerReq.median) / (n * mm), 0)),
      ]);
    }
    out.push(`### (2)/(3) Dashboards, ${phase} — each cell: gateway maxAge 0 / gateway warm cache / baseline\n`);
    out.push(
      table(
        ['N × M', 'upstream req/screen', 'billed data points/screen', 'Redis round trips/screen (gateway)', 'screens/s', 'req/s ratio vs baseline (maxAge 0 / warm)', 'p50 ms', 'server CPU ms/screen', 'server CPU µs/data point'],
        rows,
      ),
    );
    out.push('');
  }

  // (3) growth: marginal CPU per added vehicle and per added signal (0 ms grid)
  const grid = dashPhases.find((p) => p.startsWith('0 ms'));
  if (grid) {
    const cpu = (kind: string, n: number, mm: number) => {
      const name = kind === 'baseline' ? `baseline dashboard N=${n} M=${mm}` : `gateway dashboard N=${n} M=${mm} ${kind}`;
      return find(grid, name)?.cpuMsPerReq.median ?? NaN;
    };
    const rows: string[][] = [];
    for (const kind of ['maxAge 0', 'warm cache', 'baseline']) {
      for (const mm of GRID_M) {
        const per: string[] = [];
        for (let i = 1; i < GRID_N.length; i++) {
          const a = GRID_N[i - 1]!;
          const b = GRID_N[i]!;
          per.push(`${a}→${b}: ${num((cpu(kind, b, mm) - cpu(kind, a, mm)) / (b - a), 2)}`);
        }
        if (per.length) rows.push([`${kind}, M=${mm}: ms per added vehicle`, per.join('; ')]);
      }
      for (const n of GRID_N) {
        const per: string[] = [];
        for (let i = 1; i < GRID_M.length; i++) {
          const a = GRID_M[i - 1]!;
          const b = GRID_M[i]!;
          per.push(`${a}→${b}: ${num((cpu(kind, n, b) - cpu(kind, n, a)) / (b - a), 2)}`);
        }
        if (per.length) rows.push([`${kind}, N=${n}: ms per added signal`, per.join('; ')]);
      }
    }
    if (rows.length) {
      out.push(`### (3) Cost growth, ${grid}: marginal server CPU (ms per screen)\n`);
      out.push(table(['series', 'marginal cost between grid points'], rows));
      out.push('');
    }
  }

  // (4) storm
  if (results.storm.length) {
    out.push(`### (4) Refresh storm (${DELAY_MS} ms upstream delay)\n`);
    const rows: string[][] = [];
    for (const mode of [...new Set(results.storm.map((r) => r.mode))]) {
      const rs = results.storm.filter((r) => r.mode === mode);
      rows.push([
        mode === 'expired' ? 'gateway: access token expired (refresh before use)' : 'gateway: access token revoked early (401, refresh, retry)',
        String(rs[0]!.processes),
        String(rs[0]!.requests),
        rs.map((r) => `${r.ok}/${r.requests}`).join(', '),
        fmt(spread(rs.map((r) => r.firstOkMs)), 0),
        fmt(spread(rs.map((r) => r.p50Ms)), 0),
        fmt(spread(rs.map((r) => r.recoverMs)), 0),
        rs.map((r) => String(r.refreshes)).join(', '),
      ]);
    }
    for (const b of results.baselineStorm) {
      rows.push(['baseline: access token expired', '1', String(b.requests), `${b.ok}/${b.requests}`, '–', '–', 'never (it has no refresh)', String(b.refreshes)]);
    }
    out.push(table(['case', 'processes', 'concurrent requests', 'answered OK per round', 'first OK ms', 'p50 ms', 'all answered ms (time to recover)', 'refreshes per round'], rows));
    out.push('');
  }

  // (5) closeness to the limit and profiles
  const gwGql = find(p0, names.gwGql);
  const gwType = find(p0, names.gwType);
  const gwRest = find(p0, names.gwRest);
  const prof = results.profiles;
  if (gwType) {
    out.push('### (5) Closeness to the limit\n');
    const rows: string[][] = [];
    for (const x of [gwGql, gwRest]) {
      if (!x) continue;
      rows.push([x.name, fmt(x.rps, 0), fmt(gwType.rps, 0), num(x.rps.median / gwType.rps.median), `${num(1000 * x.cpuMsPerReq.median, 0)} − ${num(1000 * gwType.cpuMsPerReq.median, 0)} = ${num(1000 * (x.cpuMsPerReq.median - gwType.cpuMsPerReq.median), 0)}`]);
    }
    out.push(table(['job', 'req/s', '`{ __typename }` req/s', 'fraction', 'CPU µs/req over `{ __typename }`'], rows));
    out.push('');
  }
  if (Object.keys(prof).length) {
    const labels = Object.keys(prof);
    out.push('CPU profiles (`node --cpu-prof`, separate gateway processes, only the samples of the measured window): self time by component, in µs per request (share of the profiled CPU × that run\'s CPU per request; the profiler itself adds a little).\n');
    const comps = new Set<string>();
    for (const p of Object.values(prof)) for (const c of p.summary.components) comps.add(c.component);
    const per = (label: string, comp: string) => {
      const p = prof[label]!;
      const c = p.summary.components.find((x) => x.component === comp);
      return c && p.summary.busyMs > 0 ? (1000 * p.cpuMsPerReq * c.selfMs) / p.summary.busyMs : 0;
    };
    const sortBy = labels.includes('tutorial') ? 'tutorial' : labels[0]!;
    const diff = labels.includes('tutorial') && labels.includes('typename');
    const rows = [...comps]
      .map((c) => ({ c, v: labels.map((l) => per(l, c)) }))
      .filter((r) => r.v.some((v) => v >= 2))
      .sort((a, b) => per(sortBy, b.c) - per(sortBy, a.c))
      .map((r) => [r.c, ...r.v.map((v) => num(v, 0)), ...(diff ? [num(per('tutorial', r.c) - per('typename', r.c), 0)] : [])]);
    rows.push([
      '**total (CPU per request)**',
      ...labels.map((l) => num(1000 * prof[l]!.cpuMsPerReq, 0)),
      ...(diff ? [num(1000 * (prof.tutorial!.cpuMsPerReq - prof.typename!.cpuMsPerReq), 0)] : []),
    ]);
    out.push(table(['component', ...labels.map((l) => `${l} (${prof[l]!.requests} req${prof[l]!.windowed ? '' : ', whole profile'})`), ...(diff ? ['tutorial − typename'] : [])], rows));
    out.push('');
    // The hot path's parts, inclusive of what they call (socket writes under ioredis, AES under the
    // vault): overlapping, so not additive.
    const inclusive = (label: string, comp: string) => {
      const p = prof[label]!;
      const c = p.summary.components.find((x) => x.component === comp);
      return c && p.summary.busyMs > 0 ? (1000 * p.cpuMsPerReq * c.inclusiveMs) / p.summary.busyMs : 0;
    };
    const hot = [
      'gateway: session lookup',
      'gateway: tokens (vault, AES-GCM)',
      'DataLoader',
      'gateway: vehicles, signals, cache',
      'ioredis (Redis client)',
      'graphql-js (parse/validate/execute)',
      'Apollo Server',
      'Express & HTTP middleware',
      'Node async_hooks (AsyncLocalStorage)',
      'smartcar SDK',
      'Node fetch (undici, web streams)',
    ];
    out.push('The hot path, inclusive of what each part calls (µs per request; parts overlap, so rows do not add up):\n');
    out.push(table(['part', ...labels], hot.map((c) => [c, ...labels.map((l) => num(inclusive(l, c), 0))])));
    out.push('');
    for (const l of labels) {
      const s = prof[l]!.summary;
      out.push(`Top self time, ${l}:\n`);
      out.push(table(['function', 'where', 'component', 'self %'], s.top.slice(0, 12).map((f) => [`\`${f.name}\``, f.where, f.component, num((100 * f.selfMs) / s.busyMs, 1)])));
      out.push('');
    }
  }

  // Memory and cold start
  out.push('### Memory and cold start\n');
  const memRows = [
    ['gateway peak RSS over the whole run (VmHWM)', `${num(results.gatewayPeakRssMb, 1)} MB`],
    ['gateway RSS right after the heaviest dashboard load', `${num(results.heaviestLoadRssMb, 1)} MB`],
    ['baseline peak RSS over the whole run (VmHWM), for comparison', `${num(results.baselinePeakRssMb, 1)} MB`],
  ];
  if (results.v8DefaultHeap) {
    memRows.push([`a gateway started with \`${V8_DEFAULT_HEAP}\` (V8's own heap growth, not the gateway's 1.5×), peak RSS under ${results.v8DefaultHeap.scenario}`, `${num(results.v8DefaultHeap.peakRssMb, 1)} MB (as shipped: ${num(results.v8DefaultHeap.gatewayPeakRssMb, 1)} MB)`]);
  }
  memRows.push(['cold start: `node dist/main.js` → first answered request', `${fmt(spread(results.coldStartMs), 0)} ms`]);
  out.push(table(['measure', 'value'], memRows));
  out.push('');

  // Targets
  const targets: Target[] = [];
  const add = (target: string, value: number, limit: number, higherIsBetter: boolean, unit = '') =>
    targets.push({ target, value: `${num(value)}${unit}`, met: Number.isFinite(value) ? (higherIsBetter ? value >= limit : value <= limit) : null });
  const blTut = find(p0, names.blTut);
  const ceiling = find(p0, names.ceiling);
  // The targets of the Fastify edge (issue 13), side by side in one run.
  if (gwGql && blTut) add('tutorial job (GraphQL) ≥ 5 × baseline req/s (tutorial /vehicle)', gwGql.rps.median / blTut.rps.median, 5, true, '×');
  if (gwGql && ceiling) add('tutorial job (GraphQL) ≥ 0.5 × the ceiling row req/s', gwGql.rps.median / ceiling.rps.median, 0.5, true, '×');
  if (gwRest && blTut) add('tutorial job (REST) ≥ 8 × baseline req/s (tutorial /vehicle)', gwRest.rps.median / blTut.rps.median, 8, true, '×');
  const d0 = dashPhases.find((p) => p.startsWith('0 ms'));
  if (d0) {
    const bl = find(d0, 'baseline dashboard N=5 M=5');
    const g0 = find(d0, 'gateway dashboard N=5 M=5 maxAge 0');
    const gw = find(d0, 'gateway dashboard N=5 M=5 warm cache');
    if (g0 && bl) add('dashboard 5 × 5, maxAge 0 ≥ 2 × baseline req/s', g0.rps.median / bl.rps.median, 2, true, '×');
    if (gw && bl) add('dashboard 5 × 5, warm cache ≥ 15 × baseline req/s', gw.rps.median / bl.rps.median, 15, true, '×');
  }
  for (const x of results.scenarios.filter((y) => y.phase === p50 && y.server === 'gateway')) {
    add(`${DELAY_MS} ms delay: p50 ≤ ${DELAY_MS + 10} ms — ${x.name}`, x.p50.median, DELAY_MS + 10, false, ' ms');
  }
  add('peak RSS ≤ 150 MB under the heaviest load', results.gatewayPeakRssMb, 150, false, ' MB');
  add('cold start ≤ 1 s', spread(results.coldStartMs).max, 1000, false, ' ms (slowest)');
  const stormOk = results.storm.length > 0 && results.storm.every((r) => r.refreshes === 1 && r.ok === r.requests);
  targets.push({ target: 'refresh storm: every request answered, exactly 1 refresh per round', value: results.storm.map((r) => `${r.refreshes}`).join(',') || '–', met: results.storm.length ? stormOk : null });
  targets.push({ target: 'every measured round valid (no error, timeout, non-2xx or wrong body)', value: `${results.scenarios.filter((x) => !x.valid).length} invalid scenario(s)`, met: results.scenarios.every((x) => x.valid) });
  if (results.live) {
    out.push('### (6) Live updates: webhook ingest and fan-out (0 ms upstream)\n');
    out.push(ingestTable(results.live.ingest, results.live.concurrency));
    out.push('');
    out.push(fanoutTable(results.live.fanout));
    out.push('');
  }
  out.push('### Targets\n');
  out.push(table(['target', 'measured', 'met'], targets.map((t) => [t.target, t.value, t.met === null ? 'n/a' : t.met ? 'yes' : '**NO**'])));
  if (results.notes.length) out.push(`\nNotes:\n${results.notes.map((n) => `- ${n}`).join('\n')}`);
  return { markdown: out.join('\n'), targets };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error(`[bench] watchdog: still running after ${WATCHDOG_SEC} s; stopping everything`);
    killAll();
    process.exit(3);
  }, WATCHDOG_SEC * 1000);
  watchdog.unref();

  results.machine = machineInfo();
  snapshotDist();
  const tag = Math.random().toString(36).slice(2, 8);
  log(`${QUICK ? 'quick' : 'full'} run on ${results.machine.cpus} × ${results.machine.cpuModel}, Node ${process.version}, load average ${results.machine.loadAverageAtStart}`);

  const redis = await startPrivateRedis();
  partial.redis = redis;
  const sim = await startSim(DIST, 0);
  partial.sim = sim;
  const tokenKey = newTokenKey();

  // Cold start first: node → first answered request, nothing of the gateway warm yet.
  for (let i = 0; i < COLD_STARTS; i++) {
    const g = await startGateway({ dist: DIST, redisUrl: redis.url, prefix: `bcold${tag}${i}:`, tokenKey, sim, name: `cold-${i}` });
    results.coldStartMs.push(g.coldStartMs);
    await g.stop();
  }
  log(`cold start: ${results.coldStartMs.map((x) => num(x, 0)).join(', ')} ms`);

  const prefix = `bench${tag}:`;
  const gateway = await startGateway({ dist: DIST, redisUrl: redis.url, prefix, tokenKey, sim, name: 'gateway' });
  const baseline = await startBaseline(sim);
  const ceiling = await startCeiling();
  extraServers.push(ceiling);
  stack = { prefix, redis, sim, gateway, baseline, ceiling, tokenKey };

  const users = new Map<number, string>();
  const byN = new Map<number, GatewaySession>();
  const nMax = Math.max(...GRID_N, ...DELAYED_N);
  for (const n of [...new Set([1, ...GRID_N, ...DELAYED_N])]) {
    const u = `bench-${tag}-n${n}+${n}+phev@example.com`;
    users.set(n, u);
    const session = await connectGateway(gateway.url, u);
    if (session.vehicleIds.length !== n) throw new Error(`${u}: expected ${n} vehicles, got ${session.vehicleIds.length}`);
    byN.set(n, session);
  }
  const sessions: Sessions = { byN, one: byN.get(1)!, users };
  log('gateway sessions connected');

  // JIT warm-up of both servers on every kind of request they will serve.
  await connectBaseline(baseline.url, users.get(nMax)!);
  const g5 = byN.get(5) ?? byN.get(nMax)!;
  const n5 = byN.has(5) ? 5 : nMax;
  await jitWarmup(
    [
      { ...post(`${gateway.url}/graphql`, JSON.stringify({ query: '{ vehicle { make model year } }' }), sessions.one.cookie), verify: (b) => !b.includes('"errors"') },
      { url: `${gateway.url}/vehicle`, method: 'GET', headers: { cookie: sessions.one.cookie }, verify: (b) => b.includes('"make"') },
      { ...post(`${gateway.url}/graphql`, JSON.stringify({ query: dashboardQuery(9, 0) }), g5.cookie), verify: verifyGatewayDashboard(n5, 9) },
      { ...post(`${gateway.url}/graphql`, JSON.stringify({ query: dashboardQuery(9, WARM_MAX_AGE) }), g5.cookie), verify: verifyGatewayDashboard(n5, 9) },
      { ...post(`${ceiling.url}/graphql`, JSON.stringify({ query: '{ vehicle { make model year } }' })), verify: (b) => b.includes('"make"') },
      { url: `${baseline.url}/vehicle`, method: 'GET', headers: {}, verify: (b) => b.includes('"make"') },
      { url: `${baseline.url}/dashboard?n=5&m=9`, method: 'GET', headers: {}, verify: verifyBaselineDashboard(Math.min(5, nMax), 9) },
    ],
    CONN.dashboard,
  );
  log('JIT warm-up done');

  // 0 ms upstream delay
  const P0 = '0 ms upstream delay';
  await connectBaseline(baseline.url, users.get(1)!);
  await tutorialPhase(P0, stack, sessions, CONN.tutorial, !QUICK);
  await connectBaseline(baseline.url, users.get(nMax)!);
  await dashboardPhase(P0, stack, sessions, GRID_N, GRID_M, CONN.dashboard, false);
  await refusedQueriesPhase(`${P0}, refused queries`, stack, sessions, CONN.dashboard);
  results.heaviestLoadRssMb = memoryMb(gateway.pid).rss;
  results.gatewayPeakRssMb = memoryMb(gateway.pid).peak;

  if (!QUICK) {
    // What the gateway's heap growing factor buys: the heaviest screen on a second gateway (same
    // sessions) left with V8's own heap growth.
    const heaviest = `N=${nMax} M=${Math.max(...GRID_M)}`;
    const v8 = await startGateway({ dist: DIST, redisUrl: redis.url, prefix, tokenKey, sim, name: 'gateway-v8-default-heap', nodeArgs: [V8_DEFAULT_HEAP] });
    extraServers.push(v8);
    try {
      const body = JSON.stringify({ query: dashboardQuery(Math.max(...GRID_M), 0) });
      await measure(
        `${P0}, V8's own heap growth`,
        `gateway ${V8_DEFAULT_HEAP}: dashboard ${heaviest} maxAge 0`,
        v8,
        { ...post(`${v8.url}/graphql`, body, byN.get(nMax)!.cookie), verify: verifyGatewayDashboard(nMax, Math.max(...GRID_M)) },
        CONN.dashboard,
      );
      results.v8DefaultHeap = { peakRssMb: memoryMb(v8.pid).peak, scenario: `dashboard ${heaviest}, maxAge 0`, gatewayPeakRssMb: results.gatewayPeakRssMb };
    } finally {
      await v8.stop();
    }
  }

  // 50 ms upstream delay
  await setDelay(DELAY_MS);
  const P50 = `${DELAY_MS} ms upstream delay`;
  await connectBaseline(baseline.url, users.get(1)!);
  await tutorialPhase(P50, stack, sessions, CONN.delayed, !QUICK);
  await connectBaseline(baseline.url, users.get(nMax)!);
  await dashboardPhase(P50, stack, sessions, DELAYED_N, [5], CONN.delayed, !QUICK);
  if (!QUICK) await unloadedLatency(P50, stack, sessions, DELAYED_N);

  // (4) with the 50 ms delay: a refresh takes a real round trip while the storm piles up.
  await refreshStorm(stack, tag);
  await setDelay(0);
  results.gatewayPeakRssMb = memoryMb(gateway.pid).peak;
  results.baselinePeakRssMb = memoryMb(baseline.pid).peak;

  // (5) profiles (0 ms)
  await profiles(stack, tag);

  // (6) live updates: gateways of their own on the same Redis and simulator.
  const liveOptions = { dist: DIST, redisUrl: redis.url, sim, rounds: QUICK ? 1 : 3, roundSec: QUICK ? 1 : 3, concurrency: 16, log };
  results.live = { ingest: await measureIngest(liveOptions), fanout: await measureFanout(liveOptions), concurrency: liveOptions.concurrency };

  results.machine.loadAverageAtEnd = loadavg().map((l) => l.toFixed(2)).join(' ');
  results.machine.durationSec = Math.round((performance.now() - T0) / 1000);
  const { markdown, targets } = report();
  mkdirSync(OUT_DIR, { recursive: true });
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  const base = join(OUT_DIR, `${QUICK ? 'quick' : 'full'}-${stamp}`);
  writeFileSync(`${base}.json`, JSON.stringify({ ...results, targets }, null, 2));
  writeFileSync(`${base}.md`, markdown + '\n');
  console.log(markdown);
  log(`results: ${base}.md and .json; ${results.machine.durationSec} s in all`);
}

/** What is running before the stack is complete, so a failure still stops it. */
const partial: { redis?: PrivateRedis; sim?: SimProcess } = {};

async function shutdown(): Promise<void> {
  const s = stack;
  const all = [...extraServers, ...(s ? [s.gateway, s.baseline] : [])];
  await Promise.all(all.map((p) => p.stop().catch(() => undefined)));
  await partial.sim?.stop().catch(() => undefined);
  await partial.redis?.stop().catch(() => undefined);
  killAll();
}

process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
process.on('SIGTERM', () => {
  killAll();
  process.exit(143);
});

main()
  .then(async () => {
    await shutdown();
    process.exit(0);
  })
  .catch(async (err: unknown) => {
    console.error('[bench] failed:', err instanceof Error ? err.stack : err);
    for (const p of [...extraServers, ...(stack ? [stack.gateway] : [])]) {
      if (p.logs.length) console.error(`[bench] last log lines of ${p.name}:\n${p.logs.slice(-5).join('\n')}`);
    }
    await shutdown();
    process.exit(1);
  });

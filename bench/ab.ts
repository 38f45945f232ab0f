import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { connectGateway, type GatewaySession } from './connect';
import { runLoad, type LoadTarget } from './load';
import { killAll, memoryMb, startPrivateRedis } from './procs';
import { BENCH_DIR, newTokenKey, startGateway, startSim, type ServerProcess } from './stack';
import { spread } from './stats';

/**
 * A/B experiments behind the findings in BENCHMARKS.md, not part of `npm run bench`: copies of the
 * built gateway (never src/) with one change each, applied to the compiled JavaScript, measured
 * side by side with rounds interleaved (A B C, C B A, …) so the machine's drift hits every variant
 * alike. Prints median CPU per request, requests/s and p50 per variant and scenario.
 *
 *   npm run build && npx tsc -p tsconfig.bench.json && node .bench-build/bench/ab.js [--rounds=6] [--sec=3] [variant …]
 *
 * `--scenarios=2,4` picks scenarios by their 1-based position in SCENARIOS. Variants (default: all): a patch to the compiled code, or node options. A patch that no longer
 * matches the compiled code fails loudly (the source changed: update the patch). Peak RSS (VmHWM) of
 * each variant's process over the whole A/B run is printed at the end.
 */

const ROOT = resolve(BENCH_DIR, '../..');
const DIST = join(ROOT, 'dist');

interface Patch {
  file: string;
  from: string;
  to: string;
}

interface Variant {
  what: string;
  patches: Patch[];
  nodeArgs?: string[];
  /** Environment of the gateway over the bench's own (e.g. `LOG_LEVEL`). */
  env?: Record<string, string>;
  /** Another build to start from instead of dist/ (e.g. a copy of dist/ kept from before a change). */
  from?: string;
}

const VARIANTS: Record<string, Variant> = {
  autopipeline: {
    what: 'src/redis.ts: ioredis enableAutoPipelining (commands issued in the same tick share one socket write)',
    patches: [{ file: 'redis.js', from: 'lazyConnect: true,', to: 'lazyConnect: true, enableAutoPipelining: true,' }],
  },
  'v8-heap': { what: "node --heap-growing-percent=0: V8's own heap growth instead of src/heap.ts's 1.5x", patches: [], nodeArgs: ['--heap-growing-percent=0'] },
  'heap-96': { what: 'node --max-old-space-size=96 (V8 collects old garbage sooner)', patches: [], nodeArgs: ['--max-old-space-size=96'] },
  'heap-128': { what: 'node --max-old-space-size=128', patches: [], nodeArgs: ['--max-old-space-size=128'] },
  'semi-4': { what: 'node --max-semi-space-size=4 (young generation 8 MB instead of 32 MB)', patches: [], nodeArgs: ['--max-semi-space-size=4'] },
  'semi-8': { what: 'node --max-semi-space-size=8', patches: [], nodeArgs: ['--max-semi-space-size=8'] },
  'grow-50': { what: 'node --heap-growing-percent=50 (old-space limit 1.5 x the live heap after a mark-compact)', patches: [], nodeArgs: ['--heap-growing-percent=50'] },
  'grow-10': { what: 'node --heap-growing-percent=10', patches: [], nodeArgs: ['--heap-growing-percent=10'] },
  'grow-25': { what: 'node --heap-growing-percent=25', patches: [], nodeArgs: ['--heap-growing-percent=25'] },
  'grow-100': { what: 'node --heap-growing-percent=100', patches: [], nodeArgs: ['--heap-growing-percent=100'] },
  'grow-50-semi-8': { what: 'node --heap-growing-percent=50 --max-semi-space-size=8', patches: [], nodeArgs: ['--heap-growing-percent=50', '--max-semi-space-size=8'] },
  info: { what: 'LOG_LEVEL=info (production default): one access line a request', patches: [], env: { LOG_LEVEL: 'info' } },
};

/**
 * `<level>@<dir>`: another build (a copy of an earlier dist/, e.g. `cp -r dist .bench-build/dist-before`
 * before a change) at LOG_LEVEL `<level>`, beside the current one.
 */
function variantOf(name: string): Variant | undefined {
  if (VARIANTS[name]) return VARIANTS[name];
  const m = /^(\w+)@(.+)$/.exec(name);
  if (!m || !existsSync(join(resolve(m[2]!), 'main.js'))) return undefined;
  return (VARIANTS[name] = { what: `the build in ${m[2]} at LOG_LEVEL=${m[1]}`, patches: [], env: { LOG_LEVEL: m[1]! }, from: resolve(m[2]!) });
}

function makeVariant(name: string): string {
  const dir = join(ROOT, '.bench-build', 'ab', name.replace(/[^\w.-]+/g, '_'));
  rmSync(dir, { recursive: true, force: true });
  cpSync(VARIANTS[name]!.from ?? DIST, dir, { recursive: true });
  for (const p of VARIANTS[name]!.patches) {
    const file = join(dir, p.file);
    const text = readFileSync(file, 'utf8');
    if (!text.includes(p.from)) throw new Error(`${name}: "${p.from}" is not in dist/${p.file} any more; update bench/ab.ts`);
    writeFileSync(file, text.replace(p.from, p.to));
  }
  return dir;
}

const DASHBOARD = '{ vehicles { id odometer(maxAge: 0) { distance } location(maxAge: 0) { latitude longitude } battery(maxAge: 0) { percentRemaining range } fuel(maxAge: 0) { percentRemaining range amountRemaining } charge(maxAge: 0) { isPluggedIn state } } }';

interface Scenario {
  name: string;
  latencyMs: number;
  connections: number;
  target(g: ServerProcess, one: GatewaySession, five: GatewaySession, ten: GatewaySession): LoadTarget;
}

const gqlTarget = (g: ServerProcess, cookie: string, query: string): LoadTarget => ({
  url: `${g.url}/graphql`,
  method: 'POST',
  headers: { 'content-type': 'application/json', cookie },
  body: JSON.stringify({ query }),
  verify: (b) => b.startsWith('{"data":') && !b.includes('"errors"'),
});

const HEAVY = `{ vehicles { id ${['odometer(maxAge: 0) { distance }', 'location(maxAge: 0) { latitude longitude }', 'battery(maxAge: 0) { percentRemaining range }', 'fuel(maxAge: 0) { percentRemaining range amountRemaining }', 'charge(maxAge: 0) { isPluggedIn state }', 'engineOil(maxAge: 0) { lifeRemaining }', 'tirePressure(maxAge: 0) { frontLeft frontRight backLeft backRight }', 'lockStatus(maxAge: 0) { isLocked }', 'vin'].join(' ')} } }`;

const SCENARIOS: Scenario[] = [
  { name: '{ __typename }, 0 ms, 32 conn', latencyMs: 0, connections: 32, target: (g, one) => gqlTarget(g, one.cookie, '{ __typename }') },
  { name: 'tutorial job (GraphQL), 0 ms, 32 conn', latencyMs: 0, connections: 32, target: (g, one) => gqlTarget(g, one.cookie, '{ vehicle { make model year } }') },
  { name: 'dashboard 5×5 maxAge 0, 0 ms, 16 conn', latencyMs: 0, connections: 16, target: (g, _one, five) => gqlTarget(g, five.cookie, DASHBOARD) },
  { name: 'dashboard 10×9 maxAge 0, 0 ms, 16 conn', latencyMs: 0, connections: 16, target: (g, _one, _five, ten) => gqlTarget(g, ten.cookie, HEAVY) },
  { name: 'dashboard 10×9 warm cache, 0 ms, 16 conn', latencyMs: 0, connections: 16, target: (g, _one, _five, ten) => gqlTarget(g, ten.cookie, HEAVY.replaceAll('maxAge: 0', 'maxAge: 86400')) },
  { name: 'dashboard 5×5 maxAge 0, 50 ms, 1 conn', latencyMs: 50, connections: 1, target: (g, _one, five) => gqlTarget(g, five.cookie, DASHBOARD) },
];

async function main(): Promise<void> {
  if (!existsSync(join(DIST, 'main.js'))) throw new Error('dist/main.js is missing: npm run build first');
  const args = process.argv.slice(2);
  const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 6);
  const sec = Number(args.find((a) => a.startsWith('--sec='))?.slice(6) ?? 3);
  const only = args.find((a) => a.startsWith('--scenarios='))?.slice(12).split(',').map(Number);
  const scenarios = only ? SCENARIOS.filter((_s, i) => only.includes(i + 1)) : SCENARIOS;
  const chosen = args.filter((a) => !a.startsWith('--'));
  const names = chosen.length ? chosen : Object.keys(VARIANTS);
  for (const n of names) if (!variantOf(n)) throw new Error(`unknown variant ${n}; known: ${Object.keys(VARIANTS).join(', ')}`);

  const variants = [
    { name: 'as built', dir: join(ROOT, '.bench-build', 'ab', 'as-built'), nodeArgs: [] as string[], env: {} as Record<string, string> },
    ...names.map((n) => ({ name: n, dir: makeVariant(n), nodeArgs: VARIANTS[n]!.nodeArgs ?? [], env: VARIANTS[n]!.env ?? {} })),
  ];
  rmSync(variants[0]!.dir, { recursive: true, force: true });
  cpSync(DIST, variants[0]!.dir, { recursive: true });

  const redis = await startPrivateRedis();
  const sim = await startSim(variants[0]!.dir, 0);
  const key = newTokenKey();
  const running: { name: string; g: ServerProcess; one: GatewaySession; five: GatewaySession; ten: GatewaySession }[] = [];
  for (const [i, v] of variants.entries()) {
    const g = await startGateway({ dist: v.dir, redisUrl: redis.url, prefix: `ab${i}:`, tokenKey: key, sim, name: 'gateway', nodeArgs: v.nodeArgs, env: v.env });
    const tag = Math.random().toString(36).slice(2, 8);
    running.push({
      name: v.name,
      g,
      one: await connectGateway(g.url, `ab-${tag}-1+1+phev@example.com`),
      five: await connectGateway(g.url, `ab-${tag}-5+5+phev@example.com`),
      ten: await connectGateway(g.url, `ab-${tag}-10+10+phev@example.com`),
    });
  }
  const observed = (g: ServerProcess) => ({ serverPid: g.pid, simPid: sim.pid, upstream: () => sim.counts(true), redisCommands: () => redis.commands() });

  for (const sc of scenarios) {
    await sim.call({ cmd: 'configure', patch: { latencyMs: sc.latencyMs } });
    // JIT warm-up of every variant on this scenario.
    for (const r of running) await runLoad(sc.target(r.g, r.one, r.five, r.ten), { connections: sc.connections, warmupSec: 3, roundSec: 0, rounds: 0 }, observed(r.g));
    const got = new Map<string, { cpu: number[]; rps: number[]; p50: number[]; invalid: number }>();
    for (let i = 0; i < rounds; i++) {
      for (const r of i % 2 ? [...running].reverse() : running) {
        const load = await runLoad(sc.target(r.g, r.one, r.five, r.ten), { connections: sc.connections, warmupSec: 0.5, roundSec: sec, rounds: 1 }, observed(r.g));
        const round = load.rounds[0]!;
        const e = got.get(r.name) ?? { cpu: [], rps: [], p50: [], invalid: 0 };
        e.cpu.push(round.cpuMsPerReq);
        e.rps.push(round.rps);
        e.p50.push(round.p50);
        if (!round.valid || load.warmupFailures) e.invalid++;
        got.set(r.name, e);
      }
    }
    console.log(`\n${sc.name} (${rounds} interleaved rounds of ${sec} s; median, min–max)`);
    const base = spread(got.get('as built')!.cpu).median;
    for (const [name, e] of got) {
      const c = spread(e.cpu);
      const p = spread(e.p50);
      console.log(
        `  ${name.padEnd(16)} CPU ${(1000 * c.median).toFixed(0).padStart(6)} µs/req (${(1000 * c.min).toFixed(0)}–${(1000 * c.max).toFixed(0)}) ${name === 'as built' ? '       ' : `${(((c.median - base) / base) * 100).toFixed(0).padStart(4)} %`}  ${spread(e.rps).median.toFixed(0).padStart(5)} req/s  p50 ${p.median.toFixed(1)} ms${e.invalid ? `  ${e.invalid} INVALID round(s)` : ''}`,
      );
    }
  }
  console.log('\npeak RSS (VmHWM) over the whole A/B run:');
  for (const r of running) console.log(`  ${r.name.padEnd(16)} ${memoryMb(r.g.pid).peak.toFixed(0)} MB`);
  for (const v of names) console.log(`\n${v}: ${VARIANTS[v]!.what}`);
}

main()
  .then(() => {
    killAll();
    process.exit(0);
  })
  .catch((err: unknown) => {
    console.error(err);
    killAll();
    process.exit(1);
  });

import { readFileSync } from 'node:fs';

/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the top functions by self time, and self
 * time by component (Apollo, graphql-js, Express, ioredis, DataLoader, the gateway's own modules,
 * Node's HTTP, GC, …) so a profile answers "where does a request's CPU go". Samples in native code
 * without a script (JSON.parse, RegExp, crypto bindings) are charged to the nearest JavaScript
 * caller's component. `inclusive` is the share of samples with a component anywhere on the stack.
 *
 * Standalone: node .bench-build/bench/profile.js <file.cpuprofile> [requests served]
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionCost {
  name: string;
  where: string;
  component: string;
  selfMs: number;
}

export interface ProfileSummary {
  /** Sampled wall time (ms), idle included. */
  totalMs: number;
  /** Time on the CPU (not idle), ms. */
  busyMs: number;
  /** Self time by component, ms, highest first. */
  components: { component: string; selfMs: number; inclusiveMs: number }[];
  top: FunctionCost[];
}

/** Component of one frame, from its script URL; '' for frames without a script (native code). */
export function componentOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (no JS on stack)';
    if (functionName === '(root)') return 'idle';
    return '';
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (nm) {
    if (nm === 'graphql') return 'graphql-js (parse/validate/execute)';
    if (nm.startsWith('@apollo/') || nm.startsWith('@as-integrations/')) return 'Apollo Server';
    if (nm === 'fastify' || nm.startsWith('@fastify/') || ['find-my-way', 'avvio', 'light-my-request', 'fast-json-stringify', 'fast-querystring', 'secure-json-parse', 'abstract-logging', 'process-warning', 'toad-cache', 'rfdc', 'fast-uri', 'ajv', 'ret', 'safe-regex2', 'json-schema-ref-resolver', 'fast-decode-uri-component', 'fastify-plugin'].includes(nm)) return 'Fastify & HTTP edge';
    if (['express', 'router', 'body-parser', 'raw-body', 'finalhandler', 'send', 'serve-static', 'type-is', 'content-type', 'on-finished', 'qs', 'accepts', 'negotiator', 'mime-types', 'iconv-lite', 'depd', 'statuses', 'http-errors', 'path-to-regexp', 'parseurl', 'cookie', 'vary', 'encodeurl', 'etag', 'fresh', 'range-parser', 'media-typer', 'proxy-addr', 'ipaddr.js', 'forwarded', 'content-disposition', 'merge-descriptors', 'utils-merge', 'is-promise', 'ee-first', 'unpipe', 'bytes', 'safer-buffer', 'escape-html'].includes(nm)) return 'Express & HTTP middleware';
    if (nm === 'ioredis' || nm === 'redis-parser' || nm === 'denque' || nm === 'cluster-key-slot' || nm.startsWith('@ioredis/') || nm === 'standard-as-callback' || nm === 'redis-errors') return 'ioredis (Redis client)';
    if (nm === 'dataloader') return 'DataLoader';
    if (nm === 'type-graphql' || nm === 'reflect-metadata' || nm === 'graphql-scalars') return 'type-graphql';
    if (nm === 'pino' || nm.startsWith('pino-') || nm === 'sonic-boom' || nm === 'fast-redact' || nm === 'quick-format-unescaped' || nm === 'thread-stream' || nm === 'atomic-sleep' || nm === 'on-exit-leak-free' || nm === 'safe-stable-stringify') return 'pino (logging)';
    if (nm === 'smartcar' || nm === 'lodash') return 'smartcar SDK';
    if (nm === 'undici' || nm === 'undici-types') return 'Node fetch (undici, web streams)';
    return `node_modules/${nm}`;
  }
  const gw = /\/dist\/(.+)\.js$/.exec(url)?.[1];
  if (gw) {
    if (gw.startsWith('session/')) return 'gateway: session lookup';
    if (gw.startsWith('tokens/')) return 'gateway: tokens (vault, AES-GCM)';
    if (gw.startsWith('vehicles/')) return 'gateway: vehicles, signals, cache';
    if (gw.startsWith('smartcar/')) return 'gateway: Smartcar client';
    if (gw.startsWith('graphql/')) return 'gateway: resolvers';
    if (gw.startsWith('rest/')) return 'gateway: REST routes';
    return `gateway: ${gw}`;
  }
  if (url.startsWith('node:internal/deps/undici') || url.includes('undici') || url.startsWith('node:internal/webstreams')) return 'Node fetch (undici, web streams)';
  if (/^node:(internal\/async_hooks|async_hooks|internal\/async_local_storage)/.test(url)) return 'Node async_hooks (AsyncLocalStorage)';
  if (/^node:internal\/(abort_controller|worker\/js_transferable)/.test(url)) return 'Node AbortSignal (per fetch)';
  if (/^node:internal\/modules\//.test(url)) return 'Node module loading';
  if (/^node:(_http|http|net|stream|internal\/streams|internal\/http|internal\/stream_base|internal\/net|internal\/js_stream|internal\/dns|internal\/url|url|internal\/timers|timers|events|internal\/async_hooks|internal\/process\/task_queues|buffer|internal\/buffer|string_decoder|internal\/util|util)/.test(url)) {
    return 'Node core (HTTP, net, streams, timers)';
  }
  if (/^node:(crypto|internal\/crypto)/.test(url)) return 'Node crypto';
  if (url.startsWith('node:')) return 'Node core (other)';
  return url;
}

/** A time window in the profile's clock: µs of the monotonic clock (process.hrtime in any process). */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

/** Whether a window (from the harness's process.hrtime) lies within the profile's own span. */
export function windowFits(profile: CpuProfile, w: ProfileWindow): boolean {
  return w.fromUs >= profile.startTime && w.toUs <= profile.endTime && w.toUs > w.fromUs;
}

export function summarizeProfile(profile: CpuProfile, top = 15, window?: ProfileWindow): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // The component a node's self time is charged to: its own, or (native frame) its nearest caller's.
  const charged = new Map<number, string>();
  const chargeOf = (id: number): string => {
    const known = charged.get(id);
    if (known !== undefined) return known;
    const own = componentOf(byId.get(id)!.callFrame);
    const p = parent.get(id);
    const c = own !== '' ? own : p === undefined ? 'V8/native (no JS on stack)' : chargeOf(p);
    charged.set(id, c);
    return c;
  };
  // Components anywhere on a node's stack (for the inclusive share).
  const stackComponents = new Map<number, Set<string>>();
  const stackOf = (id: number): Set<string> => {
    const known = stackComponents.get(id);
    if (known) return known;
    const p = parent.get(id);
    const set = new Set(p === undefined ? [] : stackOf(p));
    const own = componentOf(byId.get(id)!.callFrame);
    if (own) set.add(own);
    stackComponents.set(id, set);
    return set;
  };

  const selfByNode = new Map<number, number>();
  let total = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (us <= 0) continue;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = profile.samples[i]!;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + us);
    total += us;
  }

  const components = new Map<string, { self: number; inclusive: number }>();
  const functions = new Map<string, FunctionCost>();
  let idle = 0;
  for (const [id, us] of selfByNode) {
    const frame = byId.get(id)!.callFrame;
    const comp = chargeOf(id);
    if (comp === 'idle') {
      idle += us;
      continue;
    }
    const entry = components.get(comp) ?? { self: 0, inclusive: 0 };
    entry.self += us;
    components.set(comp, entry);
    for (const c of stackOf(id)) {
      if (c === 'idle' || c === comp) continue;
      const e = components.get(c) ?? { self: 0, inclusive: 0 };
      e.inclusive += us;
      components.set(c, e);
    }
    const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '')}:${frame.lineNumber + 1}` : '(native)';
    const key = `${frame.functionName}@${where}`;
    const f = functions.get(key) ?? { name: frame.functionName || '(anonymous)', where, component: comp, selfMs: 0 };
    f.selfMs += us / 1000;
    functions.set(key, f);
  }
  return {
    totalMs: total / 1000,
    busyMs: (total - idle) / 1000,
    components: [...components]
      .map(([component, v]) => ({ component, selfMs: v.self / 1000, inclusiveMs: (v.self + v.inclusive) / 1000 }))
      .sort((a, b) => b.selfMs - a.selfMs),
    top: [...functions.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
  };
}

/** Where a function's self time comes from: the `depth` callers above it, heaviest first. */
export function callersOf(profile: CpuProfile, functionName: string, depth = 4, top = 8): { chain: string; ms: number }[] {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const chains = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    let id: number | undefined = profile.samples[i]!;
    if (byId.get(id)!.callFrame.functionName !== functionName) continue;
    const frames: string[] = [];
    for (let d = 0; d < depth && id !== undefined; d++) {
      id = parent.get(id);
      if (id === undefined) break;
      const f = byId.get(id)!.callFrame;
      frames.push(`${f.functionName || '(anonymous)'}@${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}`);
    }
    const key = frames.join(' < ');
    chains.set(key, (chains.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  return [...chains].map(([chain, ms]) => ({ chain, ms })).sort((a, b) => b.ms - a.ms).slice(0, top);
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const callers = args.find((a) => a.startsWith('--callers='))?.slice('--callers='.length);
  const [file, requests] = args.filter((a) => !a.startsWith('--'));
  if (!file) {
    console.error('usage: node .bench-build/bench/profile.js <file.cpuprofile> [requests served] [--callers=<function name>]');
    process.exit(2);
  }
  if (callers) {
    for (const c of callersOf(readProfile(file), callers, 6, 12)) console.log(`${c.ms.toFixed(1).padStart(8)} ms  ${c.chain}`);
    process.exit(0);
  }
  const s = summarizeProfile(readProfile(file), 25);
  const per = requests ? Number(requests) : 0;
  console.log(`sampled ${s.totalMs.toFixed(0)} ms, on CPU ${s.busyMs.toFixed(0)} ms${per ? `, ${((s.busyMs * 1000) / per).toFixed(1)} µs per request` : ''}\n`);
  for (const c of s.components) {
    console.log(`${((100 * c.selfMs) / s.busyMs).toFixed(1).padStart(5)}% self  ${((100 * c.inclusiveMs) / s.busyMs).toFixed(1).padStart(5)}% incl  ${c.component}`);
  }
  console.log('');
  for (const f of s.top) console.log(`${((100 * f.selfMs) / s.busyMs).toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
}

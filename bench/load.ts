import autocannon from 'autocannon';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMs } from './procs';
import type { UpstreamCounts } from './sim-process';
import { percentile } from './stats';

/**
 * Load from autocannon, programmatically. A warm-up run that is not counted, then rounds bounded in
 * time. A round measures a steady-state window inside its run (a short lead-in and tail are left
 * out, so ramp-up and the requests cut off at the end do not bias the per-request figures): the
 * responses completed in the window, their own latencies (not autocannon's 1-ms histogram), the
 * server's CPU time (/proc utime+stime), the simulator's CPU time, what the upstream saw (exact
 * counts) and the Redis commands processed. Every response of the whole run is checked (status and
 * body): a single error, timeout, non-2xx or wrong body makes the round, and the scenario, invalid.
 */

export interface LoadTarget {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** true when the body is a right answer. */
  verify(body: string): boolean;
  /** The status every answer must have (a refusal under test); default: any 2xx. */
  status?: number;
}

/** Answers of the wrong status: non-2xx, or anything but the target's own status. */
function wrongStatus(target: LoadTarget, r: autocannon.Result): number {
  if (target.status === undefined) return r.non2xx;
  const all = Object.values(r.statusCodeStats).reduce((a, b) => a + b.count, 0);
  return all - (r.statusCodeStats[String(target.status)]?.count ?? 0);
}

export interface Observed {
  /** The process serving the load (gateway or baseline). */
  serverPid: number;
  simPid: number;
  /** Exact upstream counts since the last call (and resets them). */
  upstream(): Promise<UpstreamCounts>;
  /** Commands the (private) Redis has processed so far (scripts' inner commands included). */
  redisCommands(): Promise<number>;
}

export interface Round {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  cpuMsPerReq: number;
  simCpuMsPerReq: number;
  upstreamPerReq: number;
  dataPointsPerReq: number;
  redisCommandsPerReq: number;
  refreshes: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  upstreamFailures: number;
  valid: boolean;
  /** A wrong answer, for the report. */
  sample?: string;
}

export interface LoadPlan {
  connections: number;
  warmupSec: number;
  roundSec: number;
  rounds: number;
}

const LEAD_SEC = 0.3;
const TAIL_SEC = 0.2;

interface Edge {
  at: number;
  cpu: number;
  sim: number;
  redis: Promise<number>;
  upstream: Promise<UpstreamCounts>;
}

interface Shot {
  requests: number;
  seconds: number;
  latencies: Float64Array;
  result: autocannon.Result;
  start?: Edge;
  end?: Edge;
  sample?: string;
}

/** One autocannon run of `lead + seconds + tail`; with `observed`, the middle `seconds` are measured. */
async function shoot(target: LoadTarget, connections: number, seconds: number, observed: Observed | null): Promise<Shot> {
  const latencies: number[] = [];
  let sample: string | undefined;
  let start: Edge | undefined;
  let end: Edge | undefined;
  const edge = (o: Observed): Edge => ({ at: performance.now(), cpu: cpuMs(o.serverPid), sim: cpuMs(o.simPid), redis: o.redisCommands(), upstream: o.upstream() });
  const total = observed ? LEAD_SEC + seconds + TAIL_SEC : seconds;
  const timers: NodeJS.Timeout[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        method: target.method,
        headers: target.headers,
        ...(target.body !== undefined && { body: target.body }),
        connections,
        pipelining: 1,
        duration: total,
        sampleInt: 100,
        timeout: 10,
        verifyBody: target.verify,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
      if (start && !end) latencies.push(ms);
    });
    instance.on('reqMismatch', (body: string) => (sample ??= body.slice(0, 400)));
    instance.on('reqError', (err: Error) => (sample ??= `request error: ${err.message}`));
    if (observed) {
      timers.push(setTimeout(() => (start = edge(observed)), LEAD_SEC * 1000));
      timers.push(setTimeout(() => (end = edge(observed)), (LEAD_SEC + seconds) * 1000));
    }
    // Bounded: autocannon stops itself after `duration`; this is a second bound.
    timers.push(setTimeout(() => instance.stop(), (total + 15) * 1000));
  });
  for (const t of timers) clearTimeout(t);
  const windowSec = start && end ? (end.at - start.at) / 1000 : seconds;
  return {
    requests: latencies.length,
    seconds: windowSec,
    latencies: Float64Array.from(latencies).sort(),
    result,
    ...(start && { start }),
    ...(end && { end }),
    ...(sample !== undefined && { sample }),
  };
}

export interface LoadResult {
  rounds: Round[];
  /** Failed responses during the warm-up (they make the scenario invalid too), with a sample. */
  warmupFailures: number;
  warmupSample?: string;
}

export async function runLoad(target: LoadTarget, plan: LoadPlan, observed: Observed): Promise<LoadResult> {
  let warmupFailures = 0;
  let warmupSample: string | undefined;
  if (plan.warmupSec > 0) {
    const warm = await shoot(target, plan.connections, plan.warmupSec, null);
    warmupFailures = warm.result.errors + wrongStatus(target, warm.result) + warm.result.mismatches;
    if (warmupFailures) warmupSample = warm.sample;
  }
  const rounds: Round[] = [];
  for (let i = 0; i < plan.rounds; i++) {
    await sleep(100); // stragglers of the previous run finish
    const shot = await shoot(target, plan.connections, plan.roundSec, observed);
    if (!shot.start || !shot.end) throw new Error('the measurement window did not open and close (event loop blocked?)');
    const [redis0, redis1, , up] = await Promise.all([shot.start.redis, shot.end.redis, shot.start.upstream, shot.end.upstream]);
    const r = shot.result;
    const non2xx = wrongStatus(target, r);
    const n = Math.max(shot.requests, 1);
    rounds.push({
      requests: shot.requests,
      seconds: shot.seconds,
      rps: shot.requests / shot.seconds,
      p50: percentile(shot.latencies, 0.5),
      p99: percentile(shot.latencies, 0.99),
      cpuMsPerReq: (shot.end.cpu - shot.start.cpu) / n,
      simCpuMsPerReq: (shot.end.sim - shot.start.sim) / n,
      upstreamPerReq: up.api / n,
      dataPointsPerReq: up.dataPoints / n,
      redisCommandsPerReq: (redis1 - redis0) / n,
      refreshes: up.refreshes,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx,
      mismatches: r.mismatches,
      upstreamFailures: up.apiFailures,
      valid: r.errors === 0 && r.timeouts === 0 && non2xx === 0 && r.mismatches === 0 && shot.requests > 0,
      ...(shot.sample !== undefined && { sample: shot.sample }),
    });
  }
  return { rounds, warmupFailures, ...(warmupSample !== undefined && { warmupSample }) };
}

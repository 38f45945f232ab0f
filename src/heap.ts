import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what survived the last full collection. By default,
 * on a host with plenty of RAM, it allows up to 4×: under the heaviest dashboard load the gateway's
 * ≈ 40 MB of live objects then reached ≈ 290 MB of RSS. At 1.5× the peak is ≈ 170–180 MB for 5–10 %
 * more CPU (more full collections; interleaved A/B rounds, BENCHMARKS.md "Memory"). Lower factors
 * (1.1×, 1.25×) gain nothing more and cost 20–45 % CPU on dashboards.
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Applied at start (V8 reads the flag at every full collection), unless node was started with its
 * own `--heap-growing-percent`: an operator's choice wins.
 */
export function tuneHeap(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}

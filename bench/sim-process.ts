import { join } from 'node:path';

/**
 * The Smartcar simulator in a process of its own (its CPU is not the gateway's), driven by the
 * harness over IPC: exact counts of what the gateway or the baseline asked upstream (the HTTP record
 * at /__simulator/requests would have to ship every entry), latency changes, token expiry.
 * Started by run.ts with BENCH_DIST pointing at the built gateway; never run by hand.
 */

interface Recorded {
  seq: number;
  kind: 'connect' | 'token' | 'api' | 'other';
  status: number;
  grantType?: string;
  endpoint?: string;
  batchPaths?: string[];
}

interface Simulator {
  origin: string;
  client: { clientId: string; clientSecret: string };
  requests(since?: number): Recorded[];
  resetRequests(): void;
  configure(patch: Record<string, unknown>): void;
  expireAccessTokens(username: string): number;
  stop(): Promise<void>;
}

/** What the upstream saw since the last reset. */
export interface UpstreamCounts {
  /** Vehicles API requests (each one an HTTP request to Smartcar). */
  api: number;
  /** Billed data points: one per plain request, one per path inside a batch. */
  dataPoints: number;
  batches: number;
  /** API answers that were not 2xx. */
  apiFailures: number;
  refreshes: number;
  codeExchanges: number;
  /** The record's bound was reached: counts are lower bounds. */
  overflow: boolean;
}

export type SimCommand =
  | { cmd: 'counts'; reset?: boolean }
  | { cmd: 'reset' }
  | { cmd: 'configure'; patch: Record<string, unknown> }
  | { cmd: 'expire'; username: string };

const MAX_RECORDED = 400_000;

function summarize(entries: Recorded[]): UpstreamCounts {
  const c: UpstreamCounts = { api: 0, dataPoints: 0, batches: 0, apiFailures: 0, refreshes: 0, codeExchanges: 0, overflow: entries.length >= MAX_RECORDED };
  for (const e of entries) {
    if (e.kind === 'api') {
      c.api++;
      if (e.status < 200 || e.status >= 300) c.apiFailures++;
      if (e.endpoint === '/batch') {
        c.batches++;
        c.dataPoints += e.batchPaths?.length ?? 0;
      } else {
        c.dataPoints++;
      }
    } else if (e.kind === 'token') {
      if (e.grantType === 'refresh_token') c.refreshes++;
      else if (e.grantType === 'authorization_code') c.codeExchanges++;
    }
  }
  return c;
}

async function main(): Promise<void> {
  const dist = process.env.BENCH_DIST;
  if (!dist || !process.send) throw new Error('sim-process is started by bench/run.ts (BENCH_DIST and an IPC channel)');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startSimulator } = require(join(dist, 'simulator')) as { startSimulator(options: Record<string, unknown>): Promise<Simulator> };
  const sim = await startSimulator({
    host: '127.0.0.1',
    port: 0,
    latencyMs: Number(process.env.BENCH_SIM_LATENCY_MS ?? 0),
    maxRecordedRequests: MAX_RECORDED,
  });

  process.on('message', (raw: { id: number } & SimCommand) => {
    let result: unknown = null;
    try {
      switch (raw.cmd) {
        case 'counts':
          result = summarize(sim.requests());
          if (raw.reset) sim.resetRequests();
          break;
        case 'reset':
          sim.resetRequests();
          break;
        case 'configure':
          sim.configure(raw.patch);
          break;
        case 'expire':
          result = sim.expireAccessTokens(raw.username);
          break;
      }
      process.send!({ id: raw.id, result });
    } catch (err) {
      process.send!({ id: raw.id, error: String(err) });
    }
  });
  process.on('disconnect', () => void sim.stop().finally(() => process.exit(0)));
  process.send({ ready: true, origin: sim.origin, client: sim.client });
}

main().catch((err: unknown) => {
  console.error('[bench simulator]', err);
  process.exit(1);
});

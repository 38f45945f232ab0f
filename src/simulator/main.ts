import { startSimulator } from './server';

/**
 * `npm run simulator`: the simulator alone, for app developers. Settings come from SIMULATOR_*
 * variables (this entry point is the simulator's own and reads nothing of the gateway's config).
 */

function numberFrom(name: string, fallback: number | undefined): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const sim = await startSimulator({
    host: process.env.SIMULATOR_HOST || '127.0.0.1',
    port: numberFrom('SIMULATOR_PORT', 5030),
    accessTokenTtlSec: numberFrom('SIMULATOR_ACCESS_TOKEN_TTL_SEC', undefined),
    refreshGraceSec: numberFrom('SIMULATOR_REFRESH_GRACE_SEC', undefined),
    latencyMs: numberFrom('SIMULATOR_LATENCY_MS', undefined),
  });
  const lines = Object.entries(sim.env).map(([k, v]) => `export ${k}=${v}`);
  console.log(`Smartcar simulator listening on ${sim.origin}\n\nPoint an SDK (or this gateway) at it:\n\n${lines.join('\n')}\n`);
  console.log(`Controls: ${sim.origin}/__simulator (requests, config, faults, users). Ctrl-C to stop.`);
  const stop = () => void sim.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`Could not start the simulator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

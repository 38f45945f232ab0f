import { banner } from './banner';
import { startSimulator } from './server';
import { checkV3Setting } from './v3/settings';

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

function webhookUrlFrom(name: string): string | null {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return null;
  if (!checkV3Setting('webhookUrl', raw)) {
    console.error(`${name} must be an http(s) URL, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return raw;
}

async function main(): Promise<void> {
  const sim = await startSimulator({
    host: process.env.SIMULATOR_HOST || '127.0.0.1',
    port: numberFrom('SIMULATOR_PORT', 5030),
    accessTokenTtlSec: numberFrom('SIMULATOR_ACCESS_TOKEN_TTL_SEC', undefined),
    refreshGraceSec: numberFrom('SIMULATOR_REFRESH_GRACE_SEC', undefined),
    latencyMs: numberFrom('SIMULATOR_LATENCY_MS', undefined),
    webhookUrl: webhookUrlFrom('SIMULATOR_WEBHOOK_URL'),
    webhookRetryScale: numberFrom('SIMULATOR_WEBHOOK_RETRY_SCALE', undefined),
  });
  console.log(banner(sim));
  const stop = () => void sim.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`Could not start the simulator: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

import type { RunningSimulator } from './server';

/** What `npm run simulator` prints: the origin, the v2 `export` block, then the v3 one. */
export function banner(sim: Pick<RunningSimulator, 'origin' | 'env' | 'v3Env' | 'webhookStatus'>): string {
  const lines = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `export ${k}=${v}`).join('\n');
  const hook = sim.webhookStatus().url ?? 'nowhere: set SIMULATOR_WEBHOOK_URL';
  return [
    `Smartcar simulator listening on ${sim.origin}`,
    `Point an SDK (or this gateway) at it:\n\n${lines(sim.env)}`,
    `For API v3 (webhooks to ${hook}):\n\n${lines(sim.v3Env)}`,
    `Controls: ${sim.origin}/__simulator (requests, config, faults, users, webhook). Ctrl-C to stop.`,
  ].join('\n\n');
}

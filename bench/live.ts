import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { connectGateway } from './connect';
import { cpuMs } from './procs';
import { newTokenKey, startGateway, type ServerProcess, type SimProcess } from './stack';
import { fmt, percentile, spread, table } from './stats';

/**
 * Live updates: how fast a gateway takes in Smartcar's webhooks. Signed `VEHICLE_STATE` events
 * (payload 4.0, one odometer reading each, a new eventId and a later `oemUpdatedAt` every time) are
 * posted to `/webhooks/smartcar` by `concurrency` clients for a few seconds; each answer must be
 * `200 {"ok":true}`. Also the same event over and over (Smartcar's retries: the duplicate path), and
 * a vehicle that 10 sessions hold (each event written into 10 caches). Events/s, latency, the
 * gateway's CPU per event.
 */

export const WEBHOOK_AMT = 'bench-amt-0123456789abcdef';

export interface IngestRow {
  name: string;
  eventsPerSec: number[];
  p50: number[];
  p99: number[];
  cpuMsPerEvent: number[];
  failures: number;
}

interface Body {
  raw: string;
  signature: string;
}

const sign = (raw: string): Body => ({ raw, signature: createHmac('sha256', WEBHOOK_AMT).update(raw).digest('hex') });

let clock = Date.now();
function odometerEvent(vehicleId: string, eventId = randomUUID()): Body {
  clock += 1;
  return sign(
    JSON.stringify({
      eventId,
      eventType: 'VEHICLE_STATE',
      data: {
        user: { id: '00000000-0000-4000-8000-000000000001' },
        vehicle: { id: vehicleId, make: 'TESLA', model: 'Model 3', year: 2020 },
        signals: [
          {
            code: 'odometer-traveleddistance',
            name: 'TraveledDistance',
            group: 'Odometer',
            body: { unit: 'km', value: 10_000 + (clock % 100_000) / 10 },
            status: { value: 'SUCCESS' },
            meta: { retrievedAt: clock, oemUpdatedAt: clock },
          },
        ],
      },
      triggers: [{ type: 'SIGNAL_UPDATED', signal: { name: 'TraveledDistance', group: 'Odometer', code: 'odometer-traveleddistance' } }],
      meta: { version: '4.0', deliveryId: randomUUID(), deliveredAt: clock, webhookId: 'bench', webhookName: 'bench', signalCount: 1, mode: 'LIVE' },
    }),
  );
}

/** `concurrency` clients posting `next()` for `seconds`; the window's answers, latencies and the server's CPU. */
async function post(pool: Pool, server: ServerProcess, next: () => Body, concurrency: number, seconds: number) {
  const latencies: number[] = [];
  let failures = 0;
  const end = performance.now() + seconds * 1000;
  const cpu0 = cpuMs(server.pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const { raw, signature } = next();
        const started = performance.now();
        const res = await pool.request({ method: 'POST', path: '/webhooks/smartcar', headers: { 'content-type': 'application/json', 'sc-signature': signature }, body: raw });
        const text = await res.body.text();
        if (res.statusCode !== 200 || text !== '{"ok":true}') failures++;
        else latencies.push(performance.now() - started);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuMs(server.pid) - cpu0;
  latencies.sort((a, b) => a - b);
  return { events: latencies.length, perSec: latencies.length / elapsed, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), cpuMsPerEvent: cpu / Math.max(1, latencies.length + failures), failures };
}

export interface LiveOptions {
  dist: string;
  redisUrl: string;
  sim: SimProcess;
  rounds: number;
  roundSec: number;
  concurrency: number;
  log: (line: string) => void;
}

/** Ingest rows, rounds interleaved (A B C, C B A, …). */
export async function measureIngest(o: LiveOptions): Promise<IngestRow[]> {
  const prefix = `blive${Date.now().toString(36)}:`;
  const gateway = await startGateway({ dist: o.dist, redisUrl: o.redisUrl, prefix, tokenKey: newTokenKey(), sim: o.sim, name: 'gateway (webhooks)', env: { SMARTCAR_MANAGEMENT_TOKEN: WEBHOOK_AMT } });
  const pool = new Pool(gateway.url, { connections: o.concurrency });
  try {
    const one = await connectGateway(gateway.url, 'bench-live-1+2+ev@example.com');
    const shared = 'bench-live-shared+2+ev@example.com';
    let sharedVehicle = '';
    for (let i = 0; i < 10; i++) sharedVehicle = (await connectGateway(gateway.url, shared)).vehicleIds[0]!;
    const vehicle = one.vehicleIds[0]!;
    const duplicate = odometerEvent(vehicle, randomUUID());
    const scenarios: [string, () => Body][] = [
      ['new events, vehicle in 1 session', () => odometerEvent(vehicle)],
      ['new events, vehicle in 10 sessions', () => odometerEvent(sharedVehicle)],
      ['the same event again (duplicate)', () => duplicate],
    ];
    const rows: IngestRow[] = scenarios.map(([name]) => ({ name, eventsPerSec: [], p50: [], p99: [], cpuMsPerEvent: [], failures: 0 }));
    // Warm-up (JIT), not counted.
    for (const [, next] of scenarios) await post(pool, gateway, next, o.concurrency, 1);
    for (let round = 0; round < o.rounds; round++) {
      const order = round % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
      for (const i of order) {
        const r = await post(pool, gateway, scenarios[i]![1], o.concurrency, o.roundSec);
        const row = rows[i]!;
        row.eventsPerSec.push(r.perSec);
        row.p50.push(r.p50);
        row.p99.push(r.p99);
        row.cpuMsPerEvent.push(r.cpuMsPerEvent);
        row.failures += r.failures;
        o.log(`  live ingest round ${round + 1}: ${row.name}: ${r.perSec.toFixed(0)} events/s`);
        await sleep(200);
      }
    }
    return rows;
  } finally {
    await pool.close();
    await gateway.stop();
  }
}

export function ingestTable(rows: IngestRow[], concurrency: number): string {
  return table(
    [`webhook ingest (${concurrency} concurrent deliveries)`, 'events/s', 'p50 ms', 'p99 ms', 'gateway CPU ms / event', 'failed answers'],
    rows.map((r) => [r.name, fmt(spread(r.eventsPerSec), 0), fmt(spread(r.p50), 2), fmt(spread(r.p99), 2), fmt(spread(r.cpuMsPerEvent), 3), String(r.failures)]),
  );
}

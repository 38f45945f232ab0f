import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type Client as WsClient } from 'graphql-ws';
import { Pool } from 'undici';
import WebSocket from 'ws';
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
 * gateway's CPU per event. And fan-out: one event posted to gateway A, 1,000 `vehicleUpdated`
 * subscribers on gateway B (50 sessions holding the car, 20 subscriptions each, one socket per
 * session); the time from the POST to the first and to the last subscriber's update.
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

export interface FanoutRow {
  subscribers: number;
  firstMs: number[];
  lastMs: number[];
  missed: number;
}

const FANOUT_SESSIONS = 50;
const SUBSCRIPTIONS_PER_SESSION = 20;

/** One event to A, every subscriber on B: rounds of time to the first and the last update. */
export async function measureFanout(o: LiveOptions): Promise<FanoutRow> {
  const prefix = `bfan${Date.now().toString(36)}:`;
  const tokenKey = newTokenKey();
  const env = { SMARTCAR_MANAGEMENT_TOKEN: WEBHOOK_AMT };
  const a = await startGateway({ dist: o.dist, redisUrl: o.redisUrl, prefix, tokenKey, sim: o.sim, name: 'gateway A (webhooks)', env });
  const b = await startGateway({ dist: o.dist, redisUrl: o.redisUrl, prefix, tokenKey, sim: o.sim, name: 'gateway B (subscribers)', env });
  const pool = new Pool(a.url, { connections: 1 });
  const sockets: WsClient[] = [];
  try {
    let vehicleId = '';
    const tokens: string[] = [];
    for (let i = 0; i < FANOUT_SESSIONS; i++) {
      const s = await connectGateway(a.url, 'bench-fanout+2+ev@example.com');
      vehicleId = s.vehicleIds[0]!;
      tokens.push(s.cookie.slice('sid='.length));
    }
    const subscribers = FANOUT_SESSIONS * SUBSCRIPTIONS_PER_SESSION;
    let expected = -1;
    let arrived: number[] = [];
    let subscribed = 0;
    for (const token of tokens) {
      const client = createClient({ url: `${b.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: false, onNonLazyError: () => undefined });
      sockets.push(client);
      for (let j = 0; j < SUBSCRIPTIONS_PER_SESSION; j++) {
        client.subscribe<{ vehicleUpdated: { odometer: { distance: number } | null } }>(
          { query: 'subscription { vehicleUpdated { id odometer { distance } } }' },
          {
            next: (r) => {
              if (r.data?.vehicleUpdated.odometer?.distance === expected) arrived.push(performance.now());
            },
            error: () => undefined,
            complete: () => undefined,
          },
        );
        subscribed++;
      }
    }
    await sleep(1_000); // every subscribe answered
    const row: FanoutRow = { subscribers, firstMs: [], lastMs: [], missed: 0 };
    for (let round = 0; round <= o.rounds; round++) {
      expected = 50_000 + round;
      arrived = [];
      const event = odometerEventWith(vehicleId, expected);
      const sent = performance.now();
      const res = await pool.request({ method: 'POST', path: '/webhooks/smartcar', headers: { 'content-type': 'application/json', 'sc-signature': event.signature }, body: event.raw });
      await res.body.text();
      for (const end = performance.now() + 10_000; arrived.length < subscribed && performance.now() < end; ) await sleep(2);
      if (round === 0) continue; // warm-up
      row.firstMs.push((arrived[0] ?? NaN) - sent);
      row.lastMs.push(arrived.length === subscribed ? arrived[arrived.length - 1]! - sent : NaN);
      row.missed += subscribed - arrived.length;
      o.log(`  live fan-out round ${round}: ${arrived.length}/${subscribed} in ${(arrived.at(-1)! - sent).toFixed(0)} ms`);
      await sleep(300);
    }
    return row;
  } finally {
    await Promise.all(sockets.map((c) => c.dispose()));
    await pool.close();
    await a.stop();
    await b.stop();
  }
}

function odometerEventWith(vehicleId: string, km: number): Body {
  const e = JSON.parse(odometerEvent(vehicleId).raw) as { data: { signals: { body: { value: number } }[] } };
  e.data.signals[0]!.body.value = km;
  return sign(JSON.stringify(e));
}

export function fanoutTable(row: FanoutRow): string {
  return table(
    ['fan-out: one webhook to gateway A', 'subscribers on gateway B', 'first update ms', 'last update ms', 'missed'],
    [['50 sessions × 20 subscriptions, one car', String(row.subscribers), fmt(spread(row.firstMs), 1), fmt(spread(row.lastMs), 1), String(row.missed)]],
  );
}

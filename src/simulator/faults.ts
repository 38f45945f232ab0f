import { randomUUID } from 'node:crypto';

/**
 * Injected outages, for testing a client's behaviour when Smartcar itself misbehaves (the per-car
 * faults of the test vehicles live in world.ts). A fault matches a part of the API and shapes the
 * next `count` answers (or all of them, until removed).
 */

export type FaultTarget = 'token' | 'connect' | 'api' | 'all';

/**
 * - `error`: answer `status` (default 503) with the JSON error Smartcar sends with that status, for that
 *   part (OAuth `{error, error_description}` or the v2.0 envelope).
 * - `html`: answer `status` with an HTML page, as a load balancer in front of Smartcar would.
 * - `delay`: wait `delayMs`, then answer normally.
 * - `hang`: accept the request and never answer; the socket is destroyed after `delayMs`.
 * - `reset`: destroy the socket at once (the SDK then throws `TypeError: fetch failed`).
 */
export type FaultMode = 'error' | 'html' | 'delay' | 'hang' | 'reset';

export interface FaultSpec {
  target: FaultTarget;
  mode: FaultMode;
  status?: number;
  delayMs?: number;
  /** How many matching requests it shapes; omitted: until removed. */
  count?: number;
}

export interface ActiveFault extends FaultSpec {
  id: string;
  remaining: number | null;
}

const TARGETS: FaultTarget[] = ['token', 'connect', 'api', 'all'];
const MODES: FaultMode[] = ['error', 'html', 'delay', 'hang', 'reset'];

/** Validates an untrusted fault description (from the admin HTTP API). */
export function parseFault(input: unknown): FaultSpec | string {
  const o = (input ?? {}) as Record<string, unknown>;
  if (!TARGETS.includes(o.target as FaultTarget)) return `"target" must be one of ${TARGETS.join(', ')}`;
  if (!MODES.includes(o.mode as FaultMode)) return `"mode" must be one of ${MODES.join(', ')}`;
  const int = (k: string, min: number, max: number) =>
    o[k] === undefined || (Number.isInteger(o[k]) && (o[k] as number) >= min && (o[k] as number) <= max);
  if (!int('status', 400, 599)) return '"status" must be an integer from 400 to 599';
  if (!int('delayMs', 0, 600_000)) return '"delayMs" must be an integer from 0 to 600000';
  if (!int('count', 1, 1_000_000)) return '"count" must be a positive integer';
  return {
    target: o.target as FaultTarget,
    mode: o.mode as FaultMode,
    ...(o.status !== undefined && { status: o.status as number }),
    ...(o.delayMs !== undefined && { delayMs: o.delayMs as number }),
    ...(o.count !== undefined && { count: o.count as number }),
  };
}

export class Faults {
  private active: ActiveFault[] = [];

  add(spec: FaultSpec): ActiveFault {
    const fault = { ...spec, id: randomUUID(), remaining: spec.count ?? null };
    this.active.push(fault);
    return fault;
  }

  list(): ActiveFault[] {
    return [...this.active];
  }

  remove(id?: string): void {
    this.active = id === undefined ? [] : this.active.filter((f) => f.id !== id);
  }

  /** The first fault matching this part of the API, consuming one of its uses. */
  take(target: Exclude<FaultTarget, 'all'>): ActiveFault | null {
    const fault = this.active.find((f) => f.target === target || f.target === 'all');
    if (!fault) return null;
    if (fault.remaining !== null && --fault.remaining <= 0) this.remove(fault.id);
    return fault;
  }
}

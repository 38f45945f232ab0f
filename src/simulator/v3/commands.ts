import { randomBytes } from 'node:crypto';
import type { MutableVehicleState } from '../readings';
import { chargeStatus } from '../readings';
import type { SimVehicle } from '../world';
import { V3Error, v3Errors } from './errors';
import { carFault } from './signals';

/**
 * API v3 commands (`POST /v3/vehicles/{id}/commands/{group}/{action}`) and their executions. A sync
 * command answers `200` with its `command-execution`; a long-running one (setting
 * `commandDurationMs`) answers `202 PENDING` and its outcome is read at
 * `GET /v3/vehicles/{id}/commands/executions/{executionId}`. Executions are kept in memory, the
 * newest 1000 per simulator.
 */

interface CommandDef {
  path: string;
  commandType: string;
  scope: string;
  electric: boolean;
  /** Validates the body, returning the `parameters` to echo. */
  parameters(body: unknown): Record<string, unknown> | null;
  /** Checks the car and changes its state (throws V3Error for a vehicle-state failure). */
  apply(v: SimVehicle, s: MutableVehicleState, now: number, p: Record<string, unknown> | null): void;
}

const none = () => null;

function percentOf(body: unknown): Record<string, unknown> {
  const percent = (body as { data?: { attributes?: { percent?: unknown } } } | null)?.data?.attributes?.percent;
  if (!Number.isInteger(percent) || (percent as number) < 50 || (percent as number) > 100) {
    throw v3Errors.validation('"data.attributes.percent" must be an integer from 50 to 100.');
  }
  return { percent };
}

export const COMMANDS: CommandDef[] = [
  { path: 'security/lock', commandType: 'security-lock', scope: 'control_security', electric: false, parameters: none, apply: (_v, s) => void (s.isLocked = true) },
  { path: 'security/unlock', commandType: 'security-unlock', scope: 'control_security', electric: false, parameters: none, apply: (_v, s) => void (s.isLocked = false) },
  {
    path: 'charge/start', commandType: 'charge-start', scope: 'control_charge', electric: true, parameters: none,
    apply: (v, s, now) => {
      if (!chargeStatus(v, s, now).isPluggedIn) {
        throw new V3Error(409, 'VEHICLE_STATE', 'CHARGING_PLUG_NOT_CONNECTED', 'The charging plug is not connected to the vehicle.', 'RETRY_LATER');
      }
      s.chargeCommand = 'START';
    },
  },
  { path: 'charge/stop', commandType: 'charge-stop', scope: 'control_charge', electric: true, parameters: none, apply: (_v, s) => void (s.chargeCommand = 'STOP') },
  {
    path: 'charge/set-limit', commandType: 'charge-set-limit', scope: 'control_charge', electric: true, parameters: percentOf,
    apply: (_v, s, _now, p) => void (s.chargeLimit = (p!.percent as number) / 100),
  },
];

export function commandDef(path: string): CommandDef | undefined {
  return COMMANDS.find((c) => c.path === path);
}

type ExecStatus = { value: 'PENDING' | 'SUCCESS' } | { value: 'ERROR'; error: ReturnType<V3Error['short']> };

export interface Execution {
  id: string;
  type: 'command-execution';
  attributes: { commandType: string; status: ExecStatus; executionMode: 'sync' | 'async'; parameters?: Record<string, unknown> };
  meta: { executedAt: string; completedAt: string | null; durationInSeconds: number | null };
}

interface Stored {
  applicationId: string;
  vehicleId: string;
  execution: Execution;
}

const MAX_EXECUTIONS = 1000;

export class Executions {
  private readonly byId = new Map<string, Stored>();
  private readonly timers = new Set<NodeJS.Timeout>();

  /**
   * Runs a command for a connected car. Validation and permission errors are thrown at once;
   * vehicle failures are thrown (sync) or recorded in the execution (long-running). `done` runs
   * after a successful state change (webhooks).
   */
  run(a: { applicationId: string; vehicle: SimVehicle; state: MutableVehicleState; def: CommandDef; body: unknown; permissions: string[]; now: () => number; durationMs: number; retryAfterSec: number; done: () => void }): { status: number; execution: Execution } {
    const { def, vehicle } = a;
    const parameters = def.parameters(a.body);
    if (!a.permissions.includes(def.scope)) throw v3Errors.permission(def.scope);
    const rateLimited = carFault(vehicle, def.commandType, a.retryAfterSec);
    if (rateLimited?.status === 429) throw rateLimited;
    const attempt = (): V3Error | null => {
      try {
        if (def.electric && vehicle.powertrain === 'ICE') {
          throw new V3Error(501, 'COMPATIBILITY', 'VEHICLE_NOT_CAPABLE', `The vehicle is not capable of performing ${def.commandType}.`);
        }
        const fault = carFault(vehicle, def.commandType, a.retryAfterSec);
        if (fault) throw fault;
        def.apply(vehicle, a.state, a.now(), parameters);
        a.done();
        return null;
      } catch (e) {
        if (e instanceof V3Error) return e;
        throw e;
      }
    };
    const started = a.now();
    const execution: Execution = {
      id: `exec_${randomBytes(8).toString('hex')}`,
      type: 'command-execution',
      attributes: { commandType: def.commandType, status: { value: 'PENDING' }, executionMode: a.durationMs > 0 ? 'async' : 'sync', ...(parameters && { parameters }) },
      meta: { executedAt: new Date(started).toISOString(), completedAt: null, durationInSeconds: null },
    };
    const finish = (error: V3Error | null) => {
      const at = a.now();
      execution.attributes.status = error ? { value: 'ERROR', error: error.short() } : { value: 'SUCCESS' };
      execution.meta.completedAt = new Date(at).toISOString();
      execution.meta.durationInSeconds = Math.round((at - started) / 1000);
    };
    if (a.durationMs <= 0) {
      const error = attempt();
      if (error) throw error;
      finish(null);
      this.keep({ applicationId: a.applicationId, vehicleId: vehicle.id, execution });
      return { status: 200, execution };
    }
    this.keep({ applicationId: a.applicationId, vehicleId: vehicle.id, execution });
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      finish(attempt());
    }, a.durationMs);
    this.timers.add(timer);
    return { status: 202, execution: structuredClone(execution) };
  }

  get(applicationId: string, vehicleId: string, id: string): Execution | undefined {
    const s = this.byId.get(id);
    return s && s.applicationId === applicationId && s.vehicleId === vehicleId ? s.execution : undefined;
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private keep(s: Stored): void {
    this.byId.set(s.execution.id, s);
    if (this.byId.size > MAX_EXECUTIONS) this.byId.delete(this.byId.keys().next().value!);
  }
}

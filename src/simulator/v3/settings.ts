/**
 * The v3 settings (constructor options, and changeable at run time through `configure()` or
 * `PATCH /__simulator/config`).
 */

export type WebhookFault = 'none' | 'duplicate' | 'reorder';

export interface V3Options {
  /** Application-token lifetime (client credentials); Smartcar's is 3600 s. */
  appTokenTtlSec?: number;
  /** Where webhooks are delivered (`null`: nowhere). Setting or changing it sends `VERIFY`. */
  webhookUrl?: string | null;
  /**
   * Multiplies Smartcar's retry delays (+25 s, +50 s, +100 s) and its 15 s answer budget; tests use
   * e.g. 0.001 (25 ms, 50 ms, 100 ms; 15 ms is too short for a busy machine, so the budget never
   * drops below 1 s).
   */
  webhookRetryScale?: number;
  /** `duplicate`: every event is delivered twice; `reorder`: each event is held back and sent after the next one. */
  webhookFault?: WebhookFault;
  /** How often subscribed vehicles are polled for changed signals (ms); 0 turns polling off. */
  webhookPollMs?: number;
  /** 0: commands answer `200` at once; otherwise `202` and the outcome after this many ms. */
  commandDurationMs?: number;
}

export type ResolvedV3Options = Required<V3Options>;

export function resolveV3Options(o: V3Options): ResolvedV3Options {
  return {
    appTokenTtlSec: o.appTokenTtlSec ?? 3600,
    webhookUrl: o.webhookUrl ?? null,
    webhookRetryScale: o.webhookRetryScale ?? 1,
    webhookFault: o.webhookFault ?? 'none',
    webhookPollMs: o.webhookPollMs ?? 60_000,
    commandDurationMs: o.commandDurationMs ?? 0,
  };
}

export const V3_MUTABLE_SETTINGS = ['appTokenTtlSec', 'webhookUrl', 'webhookRetryScale', 'webhookFault', 'webhookPollMs', 'commandDurationMs'] as const;

const FAULTS: WebhookFault[] = ['none', 'duplicate', 'reorder'];

function isHttpUrl(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}

/** Whether `v` is a good value for the v3 setting `k`; `undefined` when `k` is not a v3 setting. */
export function checkV3Setting(k: string, v: unknown): boolean | undefined {
  switch (k) {
    case 'webhookUrl':
      return v === null || isHttpUrl(v);
    case 'webhookFault':
      return FAULTS.includes(v as WebhookFault);
    case 'appTokenTtlSec':
    case 'webhookRetryScale':
    case 'webhookPollMs':
    case 'commandDurationMs':
      return typeof v === 'number' && v >= 0 && Number.isFinite(v);
    default:
      return undefined;
  }
}

import type { Counter } from 'prom-client';

/**
 * How much each label value of `counter` moved since the previous call (the registry is shared by
 * every app in the process, so tests assert deltas). Call once in beforeEach to start from zero.
 */
export function counterDeltas<L extends string>(counter: Counter<L>, label: L): () => Promise<Record<string, number>> {
  let seen = new Map<string, number>();
  return async () => {
    const now = new Map((await counter.get()).values.map((v) => [String(v.labels[label]), v.value]));
    const delta: Record<string, number> = {};
    for (const [k, v] of now) if (v !== (seen.get(k) ?? 0)) delta[k] = v - (seen.get(k) ?? 0);
    seen = now;
    return delta;
  };
}

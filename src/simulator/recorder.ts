/**
 * The record of every request the simulator answered, so tests can assert exact upstream traffic
 * ("one refresh", "one batch of five paths"). Tokens are never recorded.
 */

export interface RecordedRequest {
  seq: number;
  at: string;
  method: string;
  /** Path without the query string, e.g. `/v2.0/vehicles/<id>/batch`. */
  path: string;
  query: Record<string, string>;
  /** HTTP status sent; 0 when the connection was dropped (a `reset` or `hang` fault). */
  status: number;
  kind: 'connect' | 'token' | 'api' | 'other';
  /** `/oauth/token`: the grant type. */
  grantType?: string;
  clientId?: string;
  /** API requests whose token was valid. */
  userId?: string;
  /** The vehicle in the path (also when the request was refused). */
  vehicleId?: string;
  /** The per-vehicle endpoint, e.g. `/odometer`, `/` (attributes) or `/batch`. */
  endpoint?: string;
  /** `/batch`: the paths asked for, in order. */
  batchPaths?: string[];
  unitSystem?: string;
  requestId?: string;
  /** Name of the fault that shaped this answer, if any. */
  fault?: string;
}

export type RecordDraft = Omit<RecordedRequest, 'seq' | 'at' | 'status'>;

export class Recorder {
  private entries: RecordedRequest[] = [];
  private seq = 0;

  constructor(private readonly max: () => number) {}

  add(draft: RecordDraft, status: number, at: number): void {
    this.entries.push({ seq: ++this.seq, at: new Date(at).toISOString(), status, ...draft });
    const overflow = this.entries.length - this.max();
    if (overflow > 0) this.entries.splice(0, overflow);
  }

  /** Entries after `since` (a `seq`), oldest first. */
  list(since = 0): RecordedRequest[] {
    return this.entries.filter((e) => e.seq > since);
  }

  clear(): void {
    this.entries = [];
  }
}

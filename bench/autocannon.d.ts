/** The part of autocannon 8 (which ships no types) that the harness uses programmatically. */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  namespace autocannon {
    interface Options {
      url: string;
      method?: 'GET' | 'POST';
      headers?: Record<string, string>;
      body?: string;
      connections?: number;
      pipelining?: number;
      /** Seconds. */
      duration?: number;
      /** ms between autocannon's samples; it also stops on one of these ticks. */
      sampleInt?: number;
      /** Seconds before a request counts as timed out. */
      timeout?: number;
      /** Every response body goes through it; `false` counts a mismatch. */
      verifyBody?: (body: string) => boolean;
    }

    interface Result {
      errors: number;
      timeouts: number;
      mismatches: number;
      non2xx: number;
      resets: number;
      duration: number;
      statusCodeStats: Record<string, { count: number }>;
      requests: { total: number; average: number; sent: number };
      latency: { p50: number; p99: number; average: number };
    }

    /** Emits `response` (client, statusCode, bytes, responseTimeMs), `reqError` (error), `reqMismatch` (body). */
    interface Instance extends EventEmitter {
      stop(): void;
    }
  }

  function autocannon(options: autocannon.Options, done: (err: Error | null, result: autocannon.Result) => void): autocannon.Instance;
  export = autocannon;
}

import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';

/** `vehicleUpdated` through graphql-ws's own client on `ws`, as an app would subscribe. */

export interface LiveResult {
  data?: { vehicleUpdated: Record<string, unknown> } | null;
  errors?: { message: string; path?: string[]; extensions: { code: string } & Record<string, unknown> }[];
}

export interface LiveSubscription {
  /** Each result with the time it arrived (performance.now()). */
  results: { at: number; result: LiveResult }[];
  error: unknown;
  dispose(): Promise<void>;
}

/** One subscription on its own socket to `httpUrl`'s /graphql, the session sent as a bearer token in connectionParams. */
export function subscribeLive(httpUrl: string, bearer: string, query: string, variables: Record<string, unknown> = {}): LiveSubscription {
  const sub: LiveSubscription = { results: [], error: null, dispose: async () => undefined };
  const client: WsClient = createClient({
    url: `${httpUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${bearer}` },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined,
  });
  client.subscribe<LiveResult['data']>({ query, variables }, {
    next: (r) => void sub.results.push({ at: performance.now(), result: r as LiveResult }),
    error: (e) => void (sub.error = e),
    complete: () => undefined,
  });
  sub.dispose = () => client.dispose() as Promise<void>;
  return sub;
}

import type DataLoader from 'dataloader';
import type { RequestSession } from '../session/request-session';
import type { Reading } from '../vehicles/signal.registry';
import type { SignalKey } from '../vehicles/signal.service';

/** Per-request state, built in app.ts's context function: never shared between requests or users. */
export interface GraphQLContext {
  /** The `x-request-id` of this request, for log lines. */
  requestId: string;
  session: RequestSession;
  loaders: {
    /**
     * Vehicle data by (vehicle, signal, maxAge): one upstream request per vehicle per request. In a
     * subscription, the cache only: null where nothing is cached.
     */
    signals: DataLoader<SignalKey, Reading | null, string>;
  };
}

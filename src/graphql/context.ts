import type DataLoader from 'dataloader';
import type { VehicleUpdates } from '../live/vehicle-updates';
import type { RequestSession } from '../session/request-session';
import type { PresentedToken } from '../session/session.token';
import type { Reading } from '../vehicles/signal.registry';
import type { SignalKey } from '../vehicles/signal.service';

/**
 * Per-request state, built by the HTTP route's context function (and, for a subscription, by the
 * WebSocket server): never shared between requests or users.
 */
export interface GraphQLContext {
  /** The `x-request-id` of this request (a subscription: an id of its own), for log lines. */
  requestId: string;
  session: RequestSession;
  loaders: {
    /**
     * Vehicle data by (vehicle, signal, maxAge): one upstream request per vehicle per request. In a
     * subscription, the cache only: null where nothing is cached.
     */
    signals: DataLoader<SignalKey, Reading | null, string>;
  };
  /** Only over WebSocket: what `vehicleUpdated` subscribes with. */
  live?: { updates: VehicleUpdates; presented: PresentedToken };
}

import { Arg, Ctx, ID, Resolver, Root, Subscription } from 'type-graphql';
import { AppError } from '../errors';
import type { VehicleUpdated } from '../live/vehicle-updates';
import type { SignalService } from '../vehicles/signal.service';
import type { GraphQLContext } from './context';
import { VehicleType } from './types';

const WEBSOCKET_ONLY = 'Subscriptions run over WebSocket (graphql-transport-ws) on /graphql.';

/**
 * `vehicleUpdated`: subscribed through VehicleUpdates (the WebSocket server puts it in the context).
 * Each event comes with the session as re-loaded for it; the event's Vehicle fields then read that
 * session and a cache-only loader of its own, so every event is answered as of its own moment and
 * never costs an upstream request. graphql-js executes an event before it asks for the next, so the
 * context (one per subscription) holds one event's state at a time.
 */
@Resolver()
export class SubscriptionResolver {
  constructor(private readonly signals: SignalService) {}

  @Subscription(() => VehicleType, {
    subscribe: ({ args, context }) => {
      const live = (context as GraphQLContext).live;
      if (!live) throw new AppError('BAD_USER_INPUT', WEBSOCKET_ONLY);
      return live.updates.subscribe(live.presented, (args as { id?: string | null }).id ?? null);
    },
  })
  vehicleUpdated(@Root() update: VehicleUpdated, @Ctx() ctx: GraphQLContext, @Arg('id', () => ID, { nullable: true }) _id?: string | null): VehicleType {
    if (!ctx.live) throw new AppError('BAD_USER_INPUT', WEBSOCKET_ONLY); // Apollo executes one sent over HTTP as a query
    if ('error' in update) throw update.error;
    ctx.session = update.session;
    ctx.loaders.signals = this.signals.cachedLoader(update.session);
    return { id: update.vehicleId };
  }
}

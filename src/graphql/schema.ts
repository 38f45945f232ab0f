import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, type ContainerType, type PubSub } from 'type-graphql';
// Import order is schema order: type-graphql lists fields in the order their decorators ran.
import { ConnectResolver } from './connect.resolver';
import { SessionResolver } from './session.resolver';
import { VehicleResolver } from './vehicle.resolver';
import { CommandResolver } from './command.resolver';
import { SubscriptionResolver } from './subscription.resolver';

export const RESOLVERS = [ConnectResolver, SessionResolver, VehicleResolver, CommandResolver, SubscriptionResolver] as const;

/**
 * type-graphql wants a PubSub as soon as there is a subscription, even when every subscription
 * brings its own `subscribe` (ours do: VehicleUpdates over VehicleEvents). This one is never called.
 */
const UNUSED_PUBSUB: PubSub = {
  publish() {
    throw new Error('subscriptions subscribe themselves: nothing publishes through type-graphql');
  },
  subscribe() {
    throw new Error('subscriptions subscribe themselves: nothing subscribes through type-graphql');
  },
};

/**
 * Builds the schema. `container` hands type-graphql the resolver instances that app.ts wired with
 * their services; without one (schema printing) no resolver is ever instantiated.
 */
export function buildGatewaySchema(container?: ContainerType): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: RESOLVERS,
    ...(container && { container }),
    pubSub: UNUSED_PUBSUB,
    validate: false,
  });
}

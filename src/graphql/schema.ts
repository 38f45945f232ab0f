import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, type ContainerType } from 'type-graphql';
// Import order is schema order: type-graphql lists fields in the order their decorators ran.
import { ConnectResolver } from './connect.resolver';
import { SessionResolver } from './session.resolver';
import { VehicleResolver } from './vehicle.resolver';
import { CommandResolver } from './command.resolver';

export const RESOLVERS = [ConnectResolver, SessionResolver, VehicleResolver, CommandResolver] as const;

/**
 * Builds the schema. `container` hands type-graphql the resolver instances that app.ts wired with
 * their services; without one (schema printing) no resolver is ever instantiated.
 */
export function buildGatewaySchema(container?: ContainerType): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: RESOLVERS,
    ...(container && { container }),
    validate: false,
  });
}

import { Ctx, Query, Resolver } from 'type-graphql';
import type { VehicleService } from '../vehicles/vehicle.service';
import type { GraphQLContext } from './context';
import { SessionType } from './types';

@Resolver()
export class SessionResolver {
  constructor(private readonly vehicles: VehicleService) {}

  @Query(() => SessionType)
  async session(@Ctx() ctx: GraphQLContext): Promise<SessionType> {
    const vehicleIds = await this.vehicles.vehicleIds(ctx.session);
    return { connected: vehicleIds.length > 0, vehicleIds };
  }
}

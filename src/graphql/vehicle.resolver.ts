import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import type { VehicleService } from '../vehicles/vehicle.service';
import type { GraphQLContext } from './context';
import { VehicleType } from './types';

/**
 * Field resolvers call `load()` synchronously, before any await: DataLoader batches what is asked in
 * the same tick, so an await in front of `load()` would split the batch.
 */
@Resolver(() => VehicleType)
export class VehicleResolver {
  constructor(private readonly vehicleService: VehicleService) {}

  @Query(() => [VehicleType])
  async vehicles(@Ctx() ctx: GraphQLContext): Promise<VehicleType[]> {
    return (await this.vehicleService.vehicleIds(ctx.session)).map((id) => ({ id }));
  }

  @Query(() => VehicleType, { description: "Without an id: the session's first vehicle." })
  async vehicle(@Ctx() ctx: GraphQLContext, @Arg('id', () => ID, { nullable: true }) id?: string | null): Promise<VehicleType> {
    return { id: await this.vehicleService.resolve(ctx.session, id) };
  }

  @FieldResolver(() => String)
  async make(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext): Promise<string> {
    return (await ctx.loaders.attributes.load(v.id)).make;
  }

  @FieldResolver(() => String)
  async model(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext): Promise<string> {
    return (await ctx.loaders.attributes.load(v.id)).model;
  }

  @FieldResolver(() => Int)
  async year(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await ctx.loaders.attributes.load(v.id)).year;
  }
}

import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import type { Reading } from '../smartcar/smartcar.client';
import type { SignalService } from '../vehicles/signal.service';
import { SIGNALS } from '../vehicles/signals';
import type { VehicleService } from '../vehicles/vehicle.service';
import type { GraphQLContext } from './context';
import {
  BatteryType,
  ChargeType,
  EngineOilType,
  FuelType,
  LocationType,
  LockStatusType,
  OdometerType,
  TirePressureType,
} from './signal.types';
import { VehicleType } from './types';

/**
 * Every field resolver calls `load()` synchronously, before any await: DataLoader batches what is
 * asked in the same tick, so an await in front of `load()` would split the batch (and a test that
 * counts upstream requests would fail).
 */

const MAX_AGE = { nullable: true, description: 'Seconds: answer from the cache when the reading is at most this old. Default: SIGNAL_MAX_AGE_SEC.' };

/** Smartcar's body plus the response metadata, as the signal types expect. */
function signal<T>(r: Reading): T {
  return { ...r.body, dataAge: r.dataAge === null ? null : new Date(r.dataAge), fetchedAt: r.fetchedAt === null ? null : new Date(r.fetchedAt) } as T;
}

@Resolver(() => VehicleType)
export class VehicleResolver {
  constructor(
    private readonly vehicleService: VehicleService,
    private readonly signals: SignalService,
  ) {}

  private read(ctx: GraphQLContext, v: VehicleType, path: string, maxAge?: number | null): Promise<Reading> {
    return ctx.loaders.signals.load({ vehicleId: v.id, path, maxAge: this.signals.maxAge(maxAge) });
  }

  private attributes(ctx: GraphQLContext, v: VehicleType): Promise<Reading> {
    return ctx.loaders.signals.load({ vehicleId: v.id, path: SIGNALS.attributes.path, maxAge: 0 });
  }

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
    return (await this.attributes(ctx, v)).body.make as string;
  }

  @FieldResolver(() => String)
  async model(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext): Promise<string> {
    return (await this.attributes(ctx, v)).body.model as string;
  }

  @FieldResolver(() => Int)
  async year(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext): Promise<number> {
    return (await this.attributes(ctx, v)).body.year as number;
  }

  @FieldResolver(() => String, { nullable: true, description: 'Cached for the life of the connection.' })
  async vin(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext): Promise<string | null> {
    return ((await this.read(ctx, v, SIGNALS.vin.path, 0)).body.vin as string | undefined) ?? null;
  }

  @FieldResolver(() => OdometerType, { nullable: true })
  async odometer(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext, @Arg('maxAge', () => Int, MAX_AGE) maxAge?: number | null): Promise<OdometerType> {
    return signal(await this.read(ctx, v, SIGNALS.odometer.path, maxAge));
  }

  @FieldResolver(() => LocationType, { nullable: true })
  async location(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext, @Arg('maxAge', () => Int, MAX_AGE) maxAge?: number | null): Promise<LocationType> {
    return signal(await this.read(ctx, v, SIGNALS.location.path, maxAge));
  }

  @FieldResolver(() => BatteryType, { nullable: true })
  async battery(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext, @Arg('maxAge', () => Int, MAX_AGE) maxAge?: number | null): Promise<BatteryType> {
    return signal(await this.read(ctx, v, SIGNALS.battery.path, maxAge));
  }

  @FieldResolver(() => FuelType, { nullable: true })
  async fuel(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext, @Arg('maxAge', () => Int, MAX_AGE) maxAge?: number | null): Promise<FuelType> {
    return signal(await this.read(ctx, v, SIGNALS.fuel.path, maxAge));
  }

  @FieldResolver(() => ChargeType, { nullable: true })
  async charge(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext, @Arg('maxAge', () => Int, MAX_AGE) maxAge?: number | null): Promise<ChargeType> {
    return signal(await this.read(ctx, v, SIGNALS.charge.path, maxAge));
  }

  @FieldResolver(() => EngineOilType, { nullable: true })
  async engineOil(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext, @Arg('maxAge', () => Int, MAX_AGE) maxAge?: number | null): Promise<EngineOilType> {
    return signal(await this.read(ctx, v, SIGNALS.engineOil.path, maxAge));
  }

  @FieldResolver(() => TirePressureType, { nullable: true })
  async tirePressure(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext, @Arg('maxAge', () => Int, MAX_AGE) maxAge?: number | null): Promise<TirePressureType> {
    return signal(await this.read(ctx, v, SIGNALS.tirePressure.path, maxAge));
  }

  @FieldResolver(() => LockStatusType, { nullable: true })
  async lockStatus(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext, @Arg('maxAge', () => Int, MAX_AGE) maxAge?: number | null): Promise<LockStatusType> {
    return signal(await this.read(ctx, v, SIGNALS.lockStatus.path, maxAge));
  }

  @FieldResolver(() => [String], { description: 'The permissions the driver granted this connection.' })
  async permissions(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext): Promise<string[]> {
    return this.vehicleService.permissions(ctx.session, v.id);
  }
}

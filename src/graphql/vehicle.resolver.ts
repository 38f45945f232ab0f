import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import { notCached } from '../errors';
import type { SignalService } from '../vehicles/signal.service';
import { SIGNALS, type Reading, type SignalName } from '../vehicles/signal.registry';
import type { VehicleService } from '../vehicles/vehicle.service';
import type { GraphQLContext } from './context';
import { VehicleType } from './types';

/**
 * The Vehicle's fields: one field resolver per registry entry, generated below in the registry's
 * order (the schema's order), as type-graphql's resolvers-inheritance example builds resolvers from
 * a factory. Every field resolver calls `load()` synchronously, before any await: DataLoader batches
 * what is asked in the same tick, so an await in front of `load()` would split the batch (and a test
 * that counts upstream requests would fail).
 */

const MAX_AGE = { nullable: true, description: 'Seconds: answer from the cache when the reading is at most this old. Default: SIGNAL_MAX_AGE_SEC.' };

/** A signal object as the signal types expect: the reading's values and its metadata as dates. */
function signalObject(r: Reading): Record<string, unknown> {
  return { ...r.values, dataAge: r.dataAge === null ? null : new Date(r.dataAge), fetchedAt: r.fetchedAt === null ? null : new Date(r.fetchedAt) };
}

type FieldMethod = (root: VehicleType, ctx: GraphQLContext, maxAge?: number | null) => Promise<unknown>;

/** Declares `method` as the Vehicle field `name`: what decorators on a written-out method would do. */
function defineField(target: typeof VehicleSignalFields, name: string, method: FieldMethod, decorate: (proto: object, descriptor: PropertyDescriptor) => void): void {
  const descriptor = { value: method, writable: true, configurable: true };
  Object.defineProperty(target.prototype, name, descriptor);
  decorate(target.prototype, descriptor);
  Root()(target.prototype, name, 0);
  Ctx()(target.prototype, name, 1);
}

/** The registry's fields of Vehicle; VehicleResolver extends it with the queries and `permissions`. */
@Resolver(() => VehicleType)
export abstract class VehicleSignalFields {
  constructor(protected readonly signals: SignalService) {}

  /** null: not cached, in a subscription (whose loader never asks Smartcar). */
  protected read(ctx: GraphQLContext, v: VehicleType, signal: SignalName, maxAge: number): Promise<Reading | null> {
    return ctx.loaders.signals.load({ vehicleId: v.id, signal, maxAge });
  }
}

for (const [name, spec] of Object.entries(SIGNALS) as [SignalName, (typeof SIGNALS)[SignalName]][]) {
  if (spec.graphql === 'vehicle') {
    // Permanent fields of Vehicle itself (make, VIN): always from the cache when held.
    for (const [field, f] of Object.entries(spec.fields)) {
      defineField(
        VehicleSignalFields,
        field,
        async function (this: VehicleSignalFields, root, ctx) {
          const r = await this.read(ctx, root, name, 0);
          if (r === null && !f.graphql.nullable) throw notCached(field);
          return r?.values[field] ?? null;
        },
        (proto, descriptor) =>
          FieldResolver(() => f.graphql.type, { nullable: f.graphql.nullable, ...('description' in f.graphql && { description: f.graphql.description }) })(proto, field, descriptor),
      );
    }
  } else {
    const type = spec.graphql.object;
    defineField(
      VehicleSignalFields,
      name,
      async function (this: VehicleSignalFields, root, ctx, maxAge) {
        const r = await this.read(ctx, root, name, this.signals.maxAge(maxAge));
        return r === null ? null : signalObject(r);
      },
      (proto, descriptor) => {
        FieldResolver(() => type, { nullable: true })(proto, name, descriptor);
        Arg('maxAge', () => Int, MAX_AGE)(proto, name, 2);
      },
    );
  }
}

@Resolver(() => VehicleType)
export class VehicleResolver extends VehicleSignalFields {
  constructor(
    private readonly vehicleService: VehicleService,
    signals: SignalService,
  ) {
    super(signals);
  }

  @Query(() => [VehicleType])
  async vehicles(@Ctx() ctx: GraphQLContext): Promise<VehicleType[]> {
    return (await this.vehicleService.vehicleIds(ctx.session)).map((id) => ({ id }));
  }

  @Query(() => VehicleType, { description: "Without an id: the session's first vehicle." })
  async vehicle(@Ctx() ctx: GraphQLContext, @Arg('id', () => ID, { nullable: true }) id?: string | null): Promise<VehicleType> {
    return { id: await this.vehicleService.resolve(ctx.session, id) };
  }

  @FieldResolver(() => [String], { description: 'The permissions the driver granted this connection.' })
  async permissions(@Root() v: VehicleType, @Ctx() ctx: GraphQLContext): Promise<string[]> {
    return this.vehicleService.permissions(ctx.session, v.id);
  }
}

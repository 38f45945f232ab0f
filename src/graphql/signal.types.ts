// Decorators below run at import, and the signal registry imports this file outside the schema build.
import 'reflect-metadata';
import { Field, Float, ObjectType } from 'type-graphql';

/**
 * Vehicle signals with Smartcar's own field names. Numbers follow the configured unit system
 * (SMARTCAR_UNIT_SYSTEM: km, L, kPa or mi, gal, psi); percentages are fractions 0..1. A field
 * Smartcar did not send is null.
 */

/** Metadata every signal has; not referenced by itself, so it does not appear in the schema. */
@ObjectType('SignalMeta')
export abstract class SignalMeta {
  @Field(() => Date, { nullable: true, description: 'When the vehicle recorded this reading (Smartcar `sc-data-age`).' })
  dataAge!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When Smartcar fetched it from the vehicle (Smartcar `sc-fetched-at`).' })
  fetchedAt!: Date | null;
}

@ObjectType('Odometer')
export class OdometerType extends SignalMeta {
  @Field(() => Float, { nullable: true })
  distance!: number | null;
}

@ObjectType('Location')
export class LocationType extends SignalMeta {
  @Field(() => Float, { nullable: true })
  latitude!: number | null;

  @Field(() => Float, { nullable: true })
  longitude!: number | null;
}

@ObjectType('Battery')
export class BatteryType extends SignalMeta {
  @Field(() => Float, { nullable: true })
  percentRemaining!: number | null;

  @Field(() => Float, { nullable: true })
  range!: number | null;
}

@ObjectType('Fuel')
export class FuelType extends SignalMeta {
  @Field(() => Float, { nullable: true })
  percentRemaining!: number | null;

  @Field(() => Float, { nullable: true })
  range!: number | null;

  @Field(() => Float, { nullable: true })
  amountRemaining!: number | null;
}

@ObjectType('Charge')
export class ChargeType extends SignalMeta {
  @Field(() => Boolean, { nullable: true })
  isPluggedIn!: boolean | null;

  @Field(() => String, { nullable: true, description: '`CHARGING`, `FULLY_CHARGED` or `NOT_CHARGING`.' })
  state!: string | null;
}

@ObjectType('EngineOil')
export class EngineOilType extends SignalMeta {
  @Field(() => Float, { nullable: true })
  lifeRemaining!: number | null;
}

@ObjectType('TirePressure')
export class TirePressureType extends SignalMeta {
  @Field(() => Float, { nullable: true })
  frontLeft!: number | null;

  @Field(() => Float, { nullable: true })
  frontRight!: number | null;

  @Field(() => Float, { nullable: true })
  backLeft!: number | null;

  @Field(() => Float, { nullable: true })
  backRight!: number | null;
}

@ObjectType('LockStatus')
export class LockStatusType extends SignalMeta {
  @Field(() => Boolean, { nullable: true })
  isLocked!: boolean | null;
}

@ObjectType('CommandResult')
export class CommandResultType {
  @Field(() => String, { description: 'Smartcar\'s status, e.g. `success`.' })
  status!: string;

  @Field(() => String, { nullable: true })
  message!: string | null;
}

import { ArgsType, Field, ID, ObjectType } from 'type-graphql';

/** The object types of schema.graphql. Vehicle fields beyond `id` are resolved in vehicle.resolver.ts. */

@ObjectType('Vehicle')
export class VehicleType {
  @Field(() => ID)
  id!: string;
}

@ObjectType('Session')
export class SessionType {
  @Field(() => Boolean)
  connected!: boolean;

  @Field(() => [ID])
  vehicleIds!: string[];
}

@ObjectType('SessionToken')
export class SessionTokenType {
  @Field(() => String, { description: 'Present it as `Authorization: Bearer <token>` (or the `sid` cookie, which is also set).' })
  token!: string;

  @Field(() => Date)
  expiresAt!: Date;
}

@ObjectType('ExchangeCodePayload')
export class ExchangeCodePayload {
  @Field(() => [VehicleType], { description: 'The vehicles this Connect authorised.' })
  vehicles!: VehicleType[];
}


@ArgsType()
export class ConnectUrlArgs {
  @Field(() => [String], { nullable: true, description: 'Smartcar permissions, e.g. `required:read_vehicle_info`; default from SMARTCAR_SCOPE.' })
  scope?: string[] | null;

  @Field(() => Boolean, { nullable: true, description: 'Show the consent screen even if the driver approved before.' })
  forcePrompt?: boolean | null;

  @Field(() => String, { nullable: true, description: "Skip Connect's brand selector (Smartcar's `make` bypass)." })
  make?: string | null;

  @Field(() => String, { nullable: true, description: 'Connect exactly the vehicle with this VIN.' })
  singleSelectVin?: string | null;
}

@ArgsType()
export class ExchangeCodeArgs {
  @Field(() => String, { description: 'The authorization code Smartcar Connect returned.' })
  code!: string;

  @Field(() => String, { nullable: true, description: 'The state of the connectUrl; required when SMARTCAR_REQUIRE_STATE is true, or auto (the default) with an http(s) redirect URI.' })
  state?: string | null;
}

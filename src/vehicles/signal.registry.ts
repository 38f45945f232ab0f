import { Int } from 'type-graphql';
import {
  BatteryType,
  ChargeType,
  EngineOilType,
  FuelType,
  LocationType,
  LockStatusType,
  OdometerType,
  TirePressureType,
} from '../graphql/signal.types';
import {
  num,
  str,
  v3Boolean,
  v3Distance,
  v3Member,
  v3Percent,
  v3String,
  v3Tire,
  v3Volume,
  type V3Body,
  type V3Convert,
  type Value,
} from './signal.units';

/**
 * The one list of vehicle signals and commands. A signal is a set of fields read together: its name
 * (the GraphQL field, the readings-cache key), the permission it needs, whether it is permanent
 * (never changes while the connection lives: cached for the life of the connection), how the schema
 * shows it, and where each Smartcar API version carries it: the v2 path (whose body has the fields
 * under their own names: the schema follows Smartcar's JSON keys) and, per field, the v3 signal code
 * with the conversion of its body. The GraphQL field resolvers and command mutations are generated
 * from this list; a test checks it against the object types of signal.types.ts.
 */

export type FieldKind = 'number' | 'boolean' | 'string';

/** Where v3 carries one field: a signal (by code, its body converted), or the vehicle resource. */
export type V3Source = { readonly code: string; readonly convert: V3Convert } | { readonly vehicle: (attributes: V3Body) => Value | null };

export interface FieldSpec {
  readonly kind: FieldKind;
  readonly v3: V3Source;
}

/** A field of `Vehicle` itself (make, VIN), read with maxAge 0 and no arguments. */
export interface VehicleFieldSpec extends FieldSpec {
  readonly graphql: { readonly type: typeof String | typeof Int; readonly nullable: boolean; readonly description?: string };
}

/** A signal shown as its own object type with `maxAge`, or as fields of `Vehicle`. */
type SignalShape =
  | { readonly graphql: { readonly object: abstract new () => object }; readonly fields: Readonly<Record<string, FieldSpec>> }
  | { readonly graphql: 'vehicle'; readonly fields: Readonly<Record<string, VehicleFieldSpec>> };

export type SignalSpec = SignalShape & {
  readonly scope: string;
  readonly permanent: boolean;
  readonly v2: { readonly path: string };
};

const code = (c: string, convert: V3Convert): V3Source => ({ code: c, convert });

export const SIGNALS = {
  attributes: {
    scope: 'read_vehicle_info',
    permanent: true,
    graphql: 'vehicle',
    v2: { path: '/' },
    fields: {
      make: { kind: 'string', graphql: { type: String, nullable: false }, v3: { vehicle: (a) => str(a.make) } },
      model: { kind: 'string', graphql: { type: String, nullable: false }, v3: { vehicle: (a) => str(a.model) } },
      // An integer in the spec, a string in one of Smartcar's own SDK tests.
      year: { kind: 'number', graphql: { type: Int, nullable: false }, v3: { vehicle: (a) => num(typeof a.year === 'string' ? Number(a.year) : a.year) } },
    },
  },
  vin: {
    scope: 'read_vin',
    permanent: true,
    graphql: 'vehicle',
    v2: { path: '/vin' },
    fields: {
      vin: { kind: 'string', graphql: { type: String, nullable: true, description: 'Cached for the life of the connection.' }, v3: code('vehicleidentification-vin', v3String) },
    },
  },
  odometer: {
    scope: 'read_odometer',
    permanent: false,
    graphql: { object: OdometerType },
    v2: { path: '/odometer' },
    fields: { distance: { kind: 'number', v3: code('odometer-traveleddistance', v3Distance) } },
  },
  location: {
    scope: 'read_location',
    permanent: false,
    graphql: { object: LocationType },
    v2: { path: '/location' },
    fields: {
      latitude: { kind: 'number', v3: code('location-preciselocation', v3Member('latitude')) },
      longitude: { kind: 'number', v3: code('location-preciselocation', v3Member('longitude')) },
    },
  },
  battery: {
    scope: 'read_battery',
    permanent: false,
    graphql: { object: BatteryType },
    v2: { path: '/battery' },
    fields: {
      percentRemaining: { kind: 'number', v3: code('tractionbattery-stateofcharge', v3Percent) },
      range: { kind: 'number', v3: code('tractionbattery-range', v3Distance) },
    },
  },
  fuel: {
    scope: 'read_fuel',
    permanent: false,
    graphql: { object: FuelType },
    v2: { path: '/fuel' },
    fields: {
      percentRemaining: { kind: 'number', v3: code('internalcombustionengine-fuellevel', v3Percent) },
      range: { kind: 'number', v3: code('internalcombustionengine-range', v3Distance) },
      amountRemaining: { kind: 'number', v3: code('internalcombustionengine-amountremaining', v3Volume) },
    },
  },
  charge: {
    scope: 'read_charge',
    permanent: false,
    graphql: { object: ChargeType },
    v2: { path: '/charge' },
    fields: {
      isPluggedIn: { kind: 'boolean', v3: code('charge-ischargingcableconnected', v3Boolean) },
      state: { kind: 'string', v3: code('charge-detailedchargingstatus', v3String) },
    },
  },
  engineOil: {
    scope: 'read_engine_oil',
    permanent: false,
    graphql: { object: EngineOilType },
    v2: { path: '/engine/oil' },
    fields: { lifeRemaining: { kind: 'number', v3: code('internalcombustionengine-oillife', v3Percent) } },
  },
  tirePressure: {
    scope: 'read_tires',
    permanent: false,
    graphql: { object: TirePressureType },
    v2: { path: '/tires/pressure' },
    fields: {
      frontLeft: { kind: 'number', v3: code('wheel-tires', v3Tire(0, 0)) },
      frontRight: { kind: 'number', v3: code('wheel-tires', v3Tire(0, 1)) },
      backLeft: { kind: 'number', v3: code('wheel-tires', v3Tire(1, 0)) },
      backRight: { kind: 'number', v3: code('wheel-tires', v3Tire(1, 1)) },
    },
  },
  lockStatus: {
    scope: 'read_security',
    permanent: false,
    graphql: { object: LockStatusType },
    v2: { path: '/security' },
    fields: { isLocked: { kind: 'boolean', v3: code('closure-islocked', v3Boolean) } },
  },
} as const satisfies Record<string, SignalSpec>;

export type SignalName = keyof typeof SIGNALS;

export const SIGNAL_NAMES = Object.keys(SIGNALS) as SignalName[];

/** A signal's values, by field; a field Smartcar did not send (or sent malformed) is null. */
export type Values = Readonly<Record<string, Value | null>>;

/** One reading of one signal: its values and Smartcar's metadata. */
export interface Reading {
  values: Values;
  /** Epoch ms the vehicle recorded it (v2 `sc-data-age`, v3 `oemUpdatedAt`), if sent. */
  dataAge: number | null;
  /** Epoch ms Smartcar fetched it from the vehicle or the OEM (v2 `sc-fetched-at`, v3 `retrievedAt`), if sent. */
  fetchedAt: number | null;
}

/** A signal's field names, in the registry's order. */
export const fieldsOf = (name: SignalName): string[] => Object.keys(SIGNALS[name].fields);

export interface CommandSpec {
  /** The GraphQL mutation. */
  readonly mutation: string;
  readonly scope: string;
  /** The signals whose cached readings the command makes untrue. */
  readonly invalidates: readonly SignalName[];
  /** v2: the SDK method of the same name; `path` labels the upstream metric. */
  readonly v2: { readonly path: string };
  /** v3: the command endpoint under `/vehicles/{id}`. */
  readonly v3: { readonly path: string };
}

export const COMMANDS = {
  lock: { mutation: 'lockVehicle', scope: 'control_security', invalidates: ['lockStatus'], v2: { path: '/security' }, v3: { path: '/commands/security/lock' } },
  unlock: { mutation: 'unlockVehicle', scope: 'control_security', invalidates: ['lockStatus'], v2: { path: '/security' }, v3: { path: '/commands/security/unlock' } },
  startCharge: { mutation: 'startCharge', scope: 'control_charge', invalidates: ['charge', 'battery'], v2: { path: '/charge' }, v3: { path: '/commands/charge/start' } },
  stopCharge: { mutation: 'stopCharge', scope: 'control_charge', invalidates: ['charge', 'battery'], v2: { path: '/charge' }, v3: { path: '/commands/charge/stop' } },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

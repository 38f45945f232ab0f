import { getNamedType, getNullableType, isNonNullType, isObjectType, type GraphQLField, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { buildGatewaySchema } from '../../../src/graphql/schema';
import { COMMAND_NAMES, COMMANDS, fieldsOf, SIGNAL_NAMES, SIGNALS, type FieldKind, type FieldSpec, type SignalName, type VehicleFieldSpec } from '../../../src/vehicles/signal.registry';

/** The registry is the one list: the schema must show exactly what it declares, in its order. */

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildGatewaySchema();
});

const objectType = (name: string) => {
  const t = schema.getType(name);
  if (!isObjectType(t)) throw new Error(`${name} is not an object type`);
  return t;
};
const SCALAR_OF: Record<FieldKind, string[]> = { number: ['Float', 'Int'], boolean: ['Boolean'], string: ['String'] };
const META = ['dataAge', 'fetchedAt'];

test('Vehicle has id, the registry’s fields in its order, then permissions', () => {
  const expected = SIGNAL_NAMES.flatMap((n) => (SIGNALS[n].graphql === 'vehicle' ? fieldsOf(n) : [n]));
  expect(Object.keys(objectType('Vehicle').getFields())).toEqual(['id', ...expected, 'permissions']);
  expect(expected).toEqual(['make', 'model', 'year', 'vin', 'odometer', 'location', 'battery', 'fuel', 'charge', 'engineOil', 'tirePressure', 'lockStatus']);
});

describe.each(SIGNAL_NAMES.map((n) => [n] as [SignalName]))('%s', (name) => {
  const spec = SIGNALS[name];
  const vehicle = () => objectType('Vehicle').getFields();

  if (spec.graphql === 'vehicle') {
    test.each(Object.entries(spec.fields as Record<string, VehicleFieldSpec>))('Vehicle.%s has the declared scalar, nullability and no arguments', (field, f) => {
      const gql = vehicle()[field]!;
      expect(getNamedType(gql.type).name).toBe(f.graphql.type === String ? 'String' : 'Int');
      expect(SCALAR_OF[f.kind]).toContain(getNamedType(gql.type).name);
      expect(isNonNullType(gql.type)).toBe(!f.graphql.nullable);
      expect(gql.args).toEqual([]);
    });
  } else {
    const object = spec.graphql.object;
    test('is a nullable object field with a maxAge argument, of its declared type', () => {
      const gql = vehicle()[name] as GraphQLField<unknown, unknown>;
      expect(isNonNullType(gql.type)).toBe(false);
      expect(getNullableType(gql.type)).toBe(schema.getType((getNamedType(gql.type) as GraphQLObjectType).name));
      expect(gql.args.map((a) => [a.name, String(a.type)])).toEqual([['maxAge', 'Int']]);
      expect(object.name).toBe(`${getNamedType(gql.type).name}Type`);
    });
    test('its type has the metadata and exactly the registry’s fields, of their kinds, all nullable', () => {
      const fields = (getNamedType(vehicle()[name]!.type) as GraphQLObjectType).getFields();
      expect(Object.keys(fields)).toEqual([...META, ...fieldsOf(name)]);
      for (const [field, f] of Object.entries(spec.fields as Record<string, FieldSpec>)) {
        expect(SCALAR_OF[f.kind]).toContain(getNamedType(fields[field]!.type).name);
        expect(isNonNullType(fields[field]!.type)).toBe(false);
      }
    });
  }
});

test.each([
  ['attributes', 'read_vehicle_info', true, '/'],
  ['vin', 'read_vin', true, '/vin'],
  ['odometer', 'read_odometer', false, '/odometer'],
  ['location', 'read_location', false, '/location'],
  ['battery', 'read_battery', false, '/battery'],
  ['fuel', 'read_fuel', false, '/fuel'],
  ['charge', 'read_charge', false, '/charge'],
  ['engineOil', 'read_engine_oil', false, '/engine/oil'],
  ['tirePressure', 'read_tires', false, '/tires/pressure'],
  ['lockStatus', 'read_security', false, '/security'],
] as const)('%s: permission %s, permanent %s, v2 path %s', (name, scope, permanent, path) => {
  expect(SIGNALS[name]).toMatchObject({ scope, permanent, v2: { path } });
});

test('every signal is in the table above, and v2 paths are distinct', () => {
  expect(SIGNAL_NAMES).toHaveLength(10);
  expect(new Set(SIGNAL_NAMES.map((n) => SIGNALS[n].v2.path)).size).toBe(SIGNAL_NAMES.length);
});

test.each([
  ['vin', 'vin', 'vehicleidentification-vin'],
  ['odometer', 'distance', 'odometer-traveleddistance'],
  ['location', 'latitude', 'location-preciselocation'],
  ['location', 'longitude', 'location-preciselocation'],
  ['battery', 'percentRemaining', 'tractionbattery-stateofcharge'],
  ['battery', 'range', 'tractionbattery-range'],
  ['fuel', 'percentRemaining', 'internalcombustionengine-fuellevel'],
  ['fuel', 'range', 'internalcombustionengine-range'],
  ['fuel', 'amountRemaining', 'internalcombustionengine-amountremaining'],
  ['charge', 'isPluggedIn', 'charge-ischargingcableconnected'],
  ['charge', 'state', 'charge-detailedchargingstatus'],
  ['engineOil', 'lifeRemaining', 'internalcombustionengine-oillife'],
  ['tirePressure', 'frontLeft', 'wheel-tires'],
  ['tirePressure', 'backRight', 'wheel-tires'],
  ['lockStatus', 'isLocked', 'closure-islocked'],
] as const)('v3: %s.%s is the signal %s', (name, field, code) => {
  expect((SIGNALS[name].fields as Record<string, { v3: unknown }>)[field]!.v3).toMatchObject({ code });
});

test('v3: the attributes come from the vehicle resource, not from a signal', () => {
  for (const f of Object.values(SIGNALS.attributes.fields)) expect('vehicle' in f.v3 && !('code' in f.v3)).toBe(true);
});

test.each([
  ['lock', 'lockVehicle', 'control_security', ['lockStatus'], '/security', '/commands/security/lock'],
  ['unlock', 'unlockVehicle', 'control_security', ['lockStatus'], '/security', '/commands/security/unlock'],
  ['startCharge', 'startCharge', 'control_charge', ['charge', 'battery'], '/charge', '/commands/charge/start'],
  ['stopCharge', 'stopCharge', 'control_charge', ['charge', 'battery'], '/charge', '/commands/charge/stop'],
] as const)('command %s: mutation %s, permission %s, invalidates %j', (command, mutation, scope, invalidates, v2, v3) => {
  expect(COMMANDS[command]).toEqual({ mutation, scope, invalidates, v2: { path: v2 }, v3: { path: v3 } });
});

test('each command is a mutation (id: ID!): CommandResult!, in the registry’s order, before disconnectVehicle and signOut', () => {
  const mutations = schema.getMutationType()!.getFields();
  const names = Object.keys(mutations);
  const generated = COMMAND_NAMES.map((c) => COMMANDS[c].mutation);
  expect(names.slice(names.indexOf(generated[0]!))).toEqual([...generated, 'disconnectVehicle', 'signOut']);
  for (const m of generated) {
    expect(String(mutations[m]!.type)).toBe('CommandResult!');
    expect(mutations[m]!.args.map((a) => [a.name, String(a.type)])).toEqual([['id', 'ID!']]);
  }
  for (const c of COMMAND_NAMES) for (const s of COMMANDS[c].invalidates) expect(SIGNAL_NAMES).toContain(s);
});

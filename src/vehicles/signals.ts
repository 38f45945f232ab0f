/**
 * The vehicle signals of the schema: the Smartcar path each reads and the permission it needs.
 * `permanent` readings (the VIN) never change and are cached for the life of the connection.
 */

export const SIGNALS = {
  attributes: { path: '/', scope: 'read_vehicle_info', permanent: true },
  vin: { path: '/vin', scope: 'read_vin', permanent: true },
  odometer: { path: '/odometer', scope: 'read_odometer', permanent: false },
  location: { path: '/location', scope: 'read_location', permanent: false },
  battery: { path: '/battery', scope: 'read_battery', permanent: false },
  fuel: { path: '/fuel', scope: 'read_fuel', permanent: false },
  charge: { path: '/charge', scope: 'read_charge', permanent: false },
  engineOil: { path: '/engine/oil', scope: 'read_engine_oil', permanent: false },
  tirePressure: { path: '/tires/pressure', scope: 'read_tires', permanent: false },
  lockStatus: { path: '/security', scope: 'read_security', permanent: false },
} as const;

export type SignalName = keyof typeof SIGNALS;

export const COMMANDS = {
  lock: { scope: 'control_security', invalidates: ['/security'] },
  unlock: { scope: 'control_security', invalidates: ['/security'] },
  startCharge: { scope: 'control_charge', invalidates: ['/charge', '/battery'] },
  stopCharge: { scope: 'control_charge', invalidates: ['/charge', '/battery'] },
} as const;

const BY_PATH = new Map<string, (typeof SIGNALS)[SignalName]>(Object.values(SIGNALS).map((s) => [s.path, s]));

export function signalByPath(path: string): (typeof SIGNALS)[SignalName] {
  const s = BY_PATH.get(path);
  if (!s) throw new Error(`unknown signal path ${path}`);
  return s;
}

/** Smartcar's v2.0 permissions, with the words the consent page shows for each. */
export const PERMISSIONS: Record<string, string> = {
  read_vehicle_info: 'Know make, model, and year',
  read_vin: 'Read VIN',
  read_odometer: 'Retrieve total distance traveled',
  read_location: 'Access the location',
  read_fuel: 'Read fuel tank level',
  read_battery: 'Read EV battery level and capacity',
  read_charge: 'Know whether the vehicle is charging',
  control_charge: 'Start or stop charging and set the charge limit',
  read_engine_oil: 'Read engine oil health',
  read_tires: 'Read tire pressure',
  read_security: 'Know whether doors, windows and trunk are locked or open',
  control_security: 'Lock or unlock the vehicle',
};

export const ALL_PERMISSIONS = Object.keys(PERMISSIONS);

/**
 * Parses Connect's `scope` parameter: space-separated, each entry optionally prefixed `required:`.
 * Returns the bare names, or the first unknown one.
 */
export function parseScope(scope: string): { scopes: string[] } | { unknown: string } {
  const scopes: string[] = [];
  for (const entry of scope.split(/[ +]+/).filter(Boolean)) {
    const name = entry.startsWith('required:') ? entry.slice('required:'.length) : entry;
    if (!(name in PERMISSIONS)) return { unknown: name };
    if (!scopes.includes(name)) scopes.push(name);
  }
  return { scopes };
}

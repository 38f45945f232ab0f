/**
 * Every permission Smartcar documents (api-reference/permissions), with the words the consent page
 * shows for each.
 */
export const PERMISSIONS: Record<string, string> = {
  read_alerts: 'Read alerts from the vehicle',
  read_battery: 'Read EV battery level and capacity',
  read_charge: 'Know whether the vehicle is charging',
  read_charge_events: 'Receive notifications for events associated with charging',
  read_charge_locations: 'Access previous charging locations and their charging configurations',
  read_charge_records: 'Read charge records and their billing information',
  read_climate: "Read the status and settings of the vehicle's climate control",
  read_compass: 'Read the compass direction the vehicle is facing',
  read_diagnostics: "Read the vehicle's system status and diagnostic trouble codes",
  read_engine_oil: 'Read engine oil health',
  read_extended_vehicle_info: "Read the vehicle's configuration",
  read_fuel: 'Read fuel tank level',
  read_location: 'Access the location',
  read_odometer: 'Retrieve total distance traveled',
  read_security: 'Know whether doors, windows and trunk are locked or open',
  read_service_history: "Read the vehicle's dealer service history",
  read_speedometer: "Read the vehicle's speed",
  read_thermometer: 'Read temperatures inside and outside the vehicle',
  read_tires: 'Read tire pressure',
  read_user_profile: "Read your connected services profile, such as your email and phone number",
  read_vehicle_info: 'Know make, model, and year',
  read_vin: 'Read VIN',
  control_charge: 'Start or stop charging and set the charge limit',
  control_climate: "Set the vehicle's climate control",
  control_navigation: "Send destinations to the vehicle's navigation system",
  control_pin: "Set or reset the vehicle's PIN",
  control_security: 'Lock or unlock the vehicle',
  control_trunk: 'Open or close the trunk',
};

export const ALL_PERMISSIONS = Object.keys(PERMISSIONS);

/**
 * Parses Connect's `scope` parameter: space-separated, each entry optionally prefixed `required:`.
 * Returns the bare names (and those marked required), or the first unknown one.
 */
export function parseScope(scope: string): { scopes: string[]; required: string[] } | { unknown: string } {
  const scopes: string[] = [];
  const required: string[] = [];
  for (const entry of scope.split(/[ +]+/).filter(Boolean)) {
    const isRequired = entry.startsWith('required:');
    const name = isRequired ? entry.slice('required:'.length) : entry;
    if (!(name in PERMISSIONS)) return { unknown: name };
    if (!scopes.includes(name)) scopes.push(name);
    if (isRequired && !required.includes(name)) required.push(name);
  }
  return { scopes, required };
}

const ELECTRIC_ONLY = ['read_battery', 'read_charge', 'read_charge_events', 'read_charge_locations', 'read_charge_records', 'control_charge'];
const FUEL_ONLY = ['read_fuel', 'read_engine_oil'];

/** Whether a car of this powertrain can serve the permission (a plug-in hybrid serves every one). */
export function capableOf(powertrain: 'BEV' | 'PHEV' | 'ICE', permission: string): boolean {
  if (powertrain === 'ICE') return !ELECTRIC_ONLY.includes(permission);
  if (powertrain === 'BEV') return !FUEL_ONLY.includes(permission);
  return true;
}

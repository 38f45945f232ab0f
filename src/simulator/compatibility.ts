import { apiErrors } from './errors';
import { capableOf, PERMISSIONS } from './permissions';
import { ENDPOINTS } from './vehicle.endpoints';
import { CATALOGUE, modelOfVin, type Powertrain } from './world';

/**
 * The Compatibility API (`GET /v2.0/compatibility` by VIN, `GET /v2.0/compatibility/matrix`): pure
 * answers from the simulator's catalogue. Test mode's `test_mode_compatibility_level` decides as
 * Smartcar's test VINs do (`compatible`/`phev`: every permission, `bev`, `fuel`, `incompatible`: none).
 */

type Query = Record<string, string>;

const LEVELS: Record<string, Powertrain | null> = { compatible: 'PHEV', phev: 'PHEV', bev: 'BEV', fuel: 'ICE', incompatible: null };
const REGIONS = ['US', 'CA', 'EUROPE'];
const TYPES = ['ICE', 'HEV', 'PHEV', 'BEV'];

function scopeOf(q: Query, required: boolean): string[] {
  const raw = q.scope?.trim() ?? '';
  if (raw === '') {
    if (required) throw apiErrors.validation('"scope" is required: a space-separated list of permissions.', 'scope');
    return [];
  }
  const names = raw.split(/[ +]+/);
  const unknown = names.find((n) => !(n in PERMISSIONS));
  if (unknown) throw apiErrors.validation(`"scope" has an unknown permission: ${unknown}.`, 'scope');
  return names;
}

/** The v2 endpoints a permission authorizes, each once. */
function endpointsOf(permission: string): string[] {
  return [...new Set(ENDPOINTS.filter((e) => e.scope === permission).map((e) => e.path))];
}

export function compatibilityByVin(q: Query) {
  const vin = q.vin ?? '';
  if (!/^[A-Za-z0-9]{17}$/.test(vin)) throw apiErrors.validation('"vin" must be 17 letters and digits.', 'vin');
  const scope = scopeOf(q, true);
  const country = q.country ?? 'US';
  if (!/^[A-Z]{2}$/.test(country)) throw apiErrors.validation('"country" must be an ISO 3166-1 alpha-2 code.', 'country');
  const level = q.mode === 'test' ? q.test_mode_compatibility_level : undefined;
  if (level !== undefined && !(level in LEVELS)) {
    throw apiErrors.validation(`"test_mode_compatibility_level" must be one of [${Object.keys(LEVELS).join(', ')}].`, 'test_mode_compatibility_level');
  }
  let powertrain: Powertrain | null;
  if (level !== undefined) powertrain = LEVELS[level]!;
  else if (country !== 'US') return { compatible: false, reason: 'MAKE_NOT_COMPATIBLE', capabilities: [] };
  else {
    const model = modelOfVin(vin);
    if (!model) return { compatible: false, reason: 'MAKE_NOT_COMPATIBLE', capabilities: [] };
    powertrain = model.powertrain;
  }
  if (powertrain === null) return { compatible: false, reason: 'VEHICLE_NOT_COMPATIBLE', capabilities: [] };
  const pt = powertrain;
  const capabilities = scope.flatMap((permission) =>
    endpointsOf(permission).map((endpoint) => {
      const capable = capableOf(pt, permission);
      return { capable, endpoint, permission, reason: capable ? null : 'VEHICLE_NOT_CAPABLE' };
    }),
  );
  return { compatible: true, reason: null, capabilities };
}

export function compatibilityMatrix(q: Query) {
  const region = q.region ?? '';
  if (!REGIONS.includes(region)) throw apiErrors.validation(`"region" must be one of [${REGIONS.join(', ')}].`, 'region');
  const scope = scopeOf(q, false);
  const makes = (q.make ?? '').split(/[ +]+/).filter(Boolean).map((m) => m.toUpperCase());
  const type = q.type;
  if (type !== undefined && !TYPES.includes(type)) throw apiErrors.validation(`"type" must be one of [${TYPES.join(', ')}].`, 'type');
  const out: Record<string, object[]> = {};
  for (const m of CATALOGUE) {
    if (makes.length > 0 && !makes.includes(m.make)) continue;
    if (type !== undefined && m.powertrain !== type) continue;
    const permissions = Object.keys(PERMISSIONS).filter((p) => endpointsOf(p).length > 0 && capableOf(m.powertrain, p));
    if (!scope.every((p) => permissions.includes(p))) continue;
    const endpoints = [...new Set(permissions.flatMap(endpointsOf))];
    (out[m.make] ??= []).push({ model: m.model, startYear: m.year, endYear: m.year + 3, type: m.powertrain, endpoints, permissions });
  }
  return out;
}

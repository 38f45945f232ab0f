import { ApiError, type ResolutionType } from './errors';

/**
 * Smartcar's v2.0 API errors by type and code, as its test-mode error accounts
 * (`<TYPE>.<CODE>@smartcar.com`) answer them. Descriptions follow Smartcar's error pages.
 */

interface Entry {
  status: number;
  description: string;
  resolution?: ResolutionType;
}

const CATALOGUE: Record<string, Record<string, Entry>> = {
  CONNECTED_SERVICES_ACCOUNT: {
    ACCOUNT_ISSUE: { status: 400, description: "Action needed in the user's connected services account. Please prompt the user to log into their connected services account and complete any outstanding tasks." },
    AUTHENTICATION_FAILED: { status: 400, description: "Smartcar was unable to authenticate with the user's connected services account. Please prompt the user to re-authenticate using Smartcar Connect.", resolution: 'REAUTHENTICATE' },
    NO_VEHICLES: { status: 400, description: "No vehicles found in the user's connected services account. Please prompt the user to add a vehicle to their account." },
    PERMISSION: { status: 400, description: "The vehicle owner has not granted the connected services account permission to perform this request." },
    SUBSCRIPTION: { status: 400, description: "The vehicle's connected services subscription is inactive or does not support the requested feature." },
    VEHICLE_MISSING: { status: 400, description: "This vehicle is no longer associated with the user's connected services account. Please prompt the user to re-add the vehicle to their account." },
    VIRTUAL_KEY_REQUIRED: { status: 400, description: 'The vehicle owner needs to add a virtual key for your application to the vehicle.' },
  },
  AUTHENTICATION: {
    NULL: { status: 401, description: 'The authorization header is missing or malformed, or it contains invalid or expired authentication credentials. Please check for missing parameters, spelling and casing mistakes, and other syntax issues.' },
  },
  PERMISSION: {
    NULL: { status: 403, description: 'Your application has insufficient permissions to access the requested resource. Please prompt the user to re-authenticate using Smartcar Connect.', resolution: 'REAUTHENTICATE' },
  },
  RESOURCE_NOT_FOUND: {
    PATH: { status: 404, description: 'The requested resource does not exist. Please check the URL and try again.' },
    VERSION: { status: 404, description: 'The requested API version does not exist. Please use version 2.0.' },
  },
  VEHICLE_STATE: {
    ASLEEP: { status: 409, description: 'The vehicle is in a sleep state and temporarily unable to perform your request.', resolution: 'RETRY_LATER' },
    CHARGING_IN_PROGRESS: { status: 409, description: 'The vehicle is currently charging and unable to perform your request.' },
    CHARGING_PLUG_CONNECTED: { status: 409, description: 'The charging plug is connected and the vehicle is unable to perform your request.' },
    CHARGING_PLUG_NOT_CONNECTED: { status: 409, description: 'The charging plug is not connected to the vehicle.' },
    DOOR_OPEN: { status: 409, description: "The vehicle is unable to perform your request because one or more of its doors are open." },
    FULLY_CHARGED: { status: 409, description: 'The vehicle is fully charged and unable to perform your request.' },
    HOOD_OPEN: { status: 409, description: "The vehicle is unable to perform your request because its hood is open." },
    IGNITION_ON: { status: 409, description: "The vehicle is unable to perform your request because its ignition is on." },
    IN_MOTION: { status: 409, description: 'The vehicle is in motion and unable to perform your request.' },
    LOW_BATTERY: { status: 409, description: "The vehicle's 12V battery is too low to perform your request." },
    REMOTE_ACCESS_DISABLED: { status: 409, description: 'Remote access is disabled on the vehicle.' },
    TRUNK_OPEN: { status: 409, description: "The vehicle is unable to perform your request because its trunk is open." },
    UNKNOWN: { status: 409, description: 'The vehicle is unable to perform your request in its current state.', resolution: 'RETRY_LATER' },
    UNREACHABLE: { status: 409, description: 'The vehicle is unreachable: it may be outside of cellular coverage.', resolution: 'RETRY_LATER' },
    VEHICLE_OFFLINE_FOR_SERVICE: { status: 409, description: 'The vehicle is offline for service.' },
  },
  RATE_LIMIT: {
    SMARTCAR_API: { status: 429, description: "You have reached your application's rate limit. Please retry the request after a short wait.", resolution: 'RETRY_LATER' },
    VEHICLE: { status: 429, description: 'You have reached the throttling rate limit for this vehicle. Please see the retry-after header for when to retry the request.', resolution: 'RETRY_LATER' },
  },
  BILLING: {
    ACCOUNT_SUSPENDED: { status: 430, description: 'Your Smartcar account is suspended.', resolution: 'CONTACT_SUPPORT' },
    INVALID_PLAN: { status: 430, description: 'This feature is not available on your plan.', resolution: 'CONTACT_SUPPORT' },
    VEHICLE_LIMIT: { status: 430, description: 'You have reached the number of vehicles your plan allows.', resolution: 'CONTACT_SUPPORT' },
    VEHICLE_REQUEST_LIMIT: { status: 430, description: 'You have reached the request limit for this vehicle in your plan.', resolution: 'CONTACT_SUPPORT' },
  },
  SERVER: {
    INTERNAL: { status: 500, description: 'An internal Smartcar error has occurred. Our team has been notified and is working to resolve this issue.', resolution: 'RETRY_LATER' },
    MULTIPLE_RECORDS_FOUND: { status: 500, description: 'Smartcar found multiple battery capacity records for this vehicle.', resolution: 'CONTACT_SUPPORT' },
    RECORD_NOT_FOUND: { status: 500, description: 'Smartcar was unable to locate a battery capacity record for this vehicle.', resolution: 'CONTACT_SUPPORT' },
  },
  COMPATIBILITY: {
    MAKE_NOT_COMPATIBLE: { status: 501, description: "Smartcar is not yet compatible with this vehicle's make in the country you specified." },
    PLATFORM_NOT_CAPABLE: { status: 501, description: "You're connected to the vehicle using an OEM integration that does not support this endpoint.", resolution: 'REAUTHENTICATE' },
    SMARTCAR_NOT_CAPABLE: { status: 501, description: 'Smartcar does not yet support this feature for this vehicle.' },
    VEHICLE_NOT_CAPABLE: { status: 501, description: 'The vehicle is not capable of performing your request.' },
  },
  UPSTREAM: {
    INVALID_DATA: { status: 502, description: 'Smartcar received invalid data from the vehicle manufacturer.', resolution: 'RETRY_LATER' },
    KNOWN_ISSUE: { status: 502, description: "Smartcar is aware of an issue with the vehicle manufacturer's servers.", resolution: 'RETRY_LATER' },
    NO_RESPONSE: { status: 502, description: "The vehicle manufacturer's servers did not respond.", resolution: 'RETRY_LATER' },
    RATE_LIMIT: { status: 502, description: "The vehicle manufacturer's rate limit for this vehicle was reached.", resolution: 'RETRY_LATER' },
    UNKNOWN_ISSUE: { status: 502, description: "An unexpected error occurred while communicating with the vehicle manufacturer's servers.", resolution: 'RETRY_LATER' },
  },
};

export interface ErrorRef {
  type: string;
  code: string | null;
}

/** `vehicle_state.asleep` → `{type: 'VEHICLE_STATE', code: 'ASLEEP'}`; `permission.null` → code null; else null. */
export function parseErrorRef(text: string): ErrorRef | null {
  const m = /^([a-z_]+)\.([a-z_]+)$/i.exec(text);
  if (!m) return null;
  const type = m[1]!.toUpperCase();
  const code = m[2]!.toUpperCase();
  if (!CATALOGUE[type]?.[code]) return null;
  return { type, code: code === 'NULL' ? null : code };
}

/** The error Smartcar answers for this type and code (the rate limits with `retry-after`). */
export function catalogueError(ref: ErrorRef, retryAfterSec: number): ApiError {
  const e = CATALOGUE[ref.type]![ref.code ?? 'NULL']!;
  return new ApiError(
    e.status,
    ref.type,
    ref.code,
    e.description,
    e.resolution ?? null,
    'Your car is temporarily unable to connect to this app. Please try again later.',
    ref.type === 'RATE_LIMIT' ? retryAfterSec : null,
  );
}

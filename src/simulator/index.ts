/** The local Smartcar. Imports nothing from the gateway: it is a product of its own. */
export { startSimulator, type RunningSimulator } from './server';
export { DEFAULT_CLIENT, type SimClient, type SimulatorOptions, type MutableSettings } from './options';
export type { RecordedRequest } from './recorder';
export type { FaultSpec, ActiveFault, FaultMode, FaultTarget } from './faults';
export { userFor, FIXED_USERS, type SimUser, type SimVehicle, type Fault } from './world';
export { PERMISSIONS, ALL_PERMISSIONS } from './permissions';
export type { V3Credentials } from './v3/credentials';
export type { V3Identity, DeliveryRecord, WebhookStatus } from './v3';
export { sign as signWebhookBody } from './v3/webhook.payloads';

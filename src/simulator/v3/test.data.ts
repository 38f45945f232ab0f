import type { ConnectionStore } from '../connections';
import { ALL_PERMISSIONS } from '../permissions';
import { userFor } from '../world';
import type { V3App } from './app.tokens';

/**
 * Smartcar's production test fixture, which the SDKs' own end-to-end tests read without any
 * `sc-user-id`: token `test-data-token`, vehicle `tst2e255-d3c8-4f90-9fec-e6e68b98e9cb`. Here it is
 * one simulated EV of its own application; no other token reaches it, and it reaches nothing else.
 */

export const TEST_DATA_TOKEN = 'test-data-token';
export const TEST_DATA_VEHICLE_ID = 'tst2e255-d3c8-4f90-9fec-e6e68b98e9cb';
const APP_ID = 'test-data';

export const TEST_DATA_APP: V3App = {
  applicationId: APP_ID,
  client: { name: 'Smartcar test data', clientId: APP_ID, clientSecret: '', redirectUris: [], defaultScopes: [] },
  credentials: { clientId: 'client_test-data', clientSecret: '', managementToken: '', webhookId: '', webhookName: '' },
};

export function isTestDataApp(app: V3App): boolean {
  return app.applicationId === APP_ID;
}

export function recordTestData(store: ConnectionStore, now: number): void {
  const base = userFor('test-data+ev@smartcar.com');
  const vehicle = { ...base.vehicles[0]!, id: TEST_DATA_VEHICLE_ID };
  const user = { ...base, vehicles: [vehicle] };
  store.record({ applicationId: APP_ID, user, vehicles: [vehicle], mode: 'simulated', permissions: ALL_PERMISSIONS, externalId: undefined, now });
}

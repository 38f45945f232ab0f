import type DataLoader from 'dataloader';
import type { RequestSession } from '../session/request-session';
import type { VehicleAttributes } from '../smartcar/smartcar.client';

/** Per-request state, built in app.ts's context function: never shared between requests or users. */
export interface GraphQLContext {
  session: RequestSession;
  loaders: {
    attributes: DataLoader<string, VehicleAttributes>;
  };
}

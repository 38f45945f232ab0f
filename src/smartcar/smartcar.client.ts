import type { SmartcarPort } from './smartcar.port';
import { createV2Adapter, type SmartcarClientOptions } from './v2.adapter';

export type { SmartcarClientOptions };

/** The gateway's Smartcar: the v2 adapter (the SDK). */
export function createSmartcarClient(options: SmartcarClientOptions): SmartcarPort {
  return createV2Adapter(options);
}

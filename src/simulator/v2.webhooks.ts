import { timingSafeEqual } from 'node:crypto';
import { apiErrors } from './errors';
import type { SimClient } from './options';
import { v3CredentialsOf } from './v3/credentials';

/**
 * v2's webhook subscriptions (`POST` / `DELETE /v2.0/vehicles/{id}/webhooks/{webhookId}`): a vehicle
 * subscribes with its access token; it is unsubscribed with the Application Management Token (AMT).
 * Each application has one webhook; its id and the AMT are fixed for the built-in application and derived
 * from the secret for any other (the same values as its API v3 credentials).
 */

export interface WebhookCredentials {
  webhookId: string;
  managementToken: string;
}

/** The application's one webhook and its AMT: those of its API v3 credentials. */
export function webhookCredentialsOf(client: SimClient): WebhookCredentials {
  const { webhookId, managementToken } = v3CredentialsOf(client);
  return { webhookId, managementToken };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class V2Webhooks {
  /** `clientId vehicleId webhookId` of each subscription. */
  private readonly subscriptions = new Set<string>();

  constructor(private readonly clients: () => SimClient[]) {}

  /** Smartcar's VALIDATION for a webhook id that is malformed or not this application's. */
  private check(client: SimClient, webhookId: string): void {
    if (!UUID.test(webhookId)) throw apiErrors.validation('"webhookId" must be a UUID.', 'webhookId');
    if (webhookId !== webhookCredentialsOf(client).webhookId) {
      throw apiErrors.validation(`No webhook with id ${webhookId} exists for this application.`, 'webhookId');
    }
  }

  subscribe(client: SimClient, vehicleId: string, webhookId: string): { webhookId: string; vehicleId: string } {
    this.check(client, webhookId);
    this.subscriptions.add(`${client.clientId} ${vehicleId} ${webhookId}`);
    return { webhookId, vehicleId };
  }

  /** The AMT in `Authorization: Bearer` names the application; unsubscribing twice succeeds. */
  unsubscribe(authorization: string | undefined, vehicleId: string, webhookId: string): { status: string } {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1] ?? '';
    const client = this.clients().find((c) => same(webhookCredentialsOf(c).managementToken, token));
    if (!client) throw apiErrors.authentication();
    this.check(client, webhookId);
    this.subscriptions.delete(`${client.clientId} ${vehicleId} ${webhookId}`);
    return { status: 'success' };
  }

  isSubscribed(clientId: string, vehicleId: string, webhookId: string): boolean {
    return this.subscriptions.has(`${clientId} ${vehicleId} ${webhookId}`);
  }
}

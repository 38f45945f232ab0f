import type { RedisClient } from './redis';
import type { Config } from './config';
import { ConnectService, stateRequired } from './connect/connect.service';
import { EventLedger } from './live/event-ledger';
import { VehicleEvents } from './live/vehicle-events';
import { VehicleUpdates } from './live/vehicle-updates';
import { WebhookApplier } from './live/webhook.apply';
import { WebhookReceiver } from './live/webhook.receiver';
import { WebhookSubscriptions } from './live/webhook.subscriptions';
import type { Logger } from './logger';
import { SessionStore } from './session/session.store';
import type { SmartcarClient } from './smartcar/smartcar.client';
import { AppTokenProvider } from './tokens/app-token';
import { TokenCredentials } from './tokens/credentials';
import { TokenCipher } from './tokens/token.cipher';
import { TokenProvider } from './tokens/token.provider';
import { TokenVault } from './tokens/token.vault';
import { CommandService } from './vehicles/command.service';
import { ReadingsCache } from './vehicles/readings.cache';
import { SignalService, type NewerReadings } from './vehicles/signal.service';
import { VehicleService } from './vehicles/vehicle.service';

/** Fetch the application token this long before it expires (Smartcar's guidance: about 5 minutes). */
const APP_TOKEN_AHEAD_MS = 5 * 60_000;
/** After a failed early fetch, the still-valid token serves this long before the next try. */
const APP_TOKEN_RETRY_MS = 30_000;

/**
 * Live subscriptions (`vehicleUpdated`): at most this many open per session, and per process (each is
 * a socket's worth of memory and a fan-out target).
 */
export const LIVE_LIMITS = { perSession: 20, perProcess: 10_000 };

/**
 * The singletons behind the edges, built once (by the server and by `npm run refresh-sweep`).
 * `redirectUri`: the one the Smartcar client uses (in simulator mode only known once the port is bound).
 * `appClientId`: v3's `client_…` id (the sealed application token is bound to it); null in v2 mode.
 */
/** Webhooks: events applied at once, and waiting; an event not applied within this answers 500 (Smartcar retries). */
const WEBHOOK_CONCURRENCY = 8;
const WEBHOOK_QUEUE = 64;
const WEBHOOK_APPLY_TIMEOUT_MS = 10_000;

/** The webhook the gateway answers and subscribes vehicles to (simulator mode: the simulator's own). */
export interface WebhookIdentity {
  managementToken: string | null;
  webhookId: string | null;
}

export function buildServices(
  config: Config,
  redis: RedisClient,
  client: SmartcarClient,
  logger: Logger,
  redirectUri: string,
  appClientId: string | null = null,
  webhook: WebhookIdentity = { managementToken: config.smartcar.managementToken, webhookId: config.smartcar.webhookId },
) {
  const smartcar = client.port;
  const cipher = new TokenCipher(config.tokenKey.key, config.tokenKey.previous);
  const sessions = new SessionStore(redis, cipher);
  const vault = new TokenVault(redis, cipher);
  // The reconnect URL needs ConnectService, which needs the provider: bound late.
  const tokens = new TokenProvider(vault, redis, smartcar, config.refresh, logger, (hash) => connect.reconnectUrl(hash));
  const appTokens =
    client.fetchAppToken && appClientId
      ? new AppTokenProvider(redis, cipher, client.fetchAppToken, { clientId: appClientId, aheadMs: APP_TOKEN_AHEAD_MS, lockTtlMs: config.refresh.lockTtlMs, retryAfterFailureMs: APP_TOKEN_RETRY_MS }, logger)
      : null;
  const credentials = new TokenCredentials(tokens, appTokens);
  const subscriptions =
    appTokens && client.webhooks && webhook.webhookId
      ? new WebhookSubscriptions(
          redis,
          cipher,
          client.webhooks,
          (userId, call) => credentials.runAsUser(userId, call),
          { webhookId: webhook.webhookId, leaseMs: config.smartcar.timeoutMs * 2 + 5_000, inlineWaitMs: 2_000, backoffMs: 5_000, maxBackoffMs: 3_600_000 },
          logger,
        )
      : null;
  const connect: ConnectService = new ConnectService(
    sessions,
    vault,
    credentials,
    smartcar,
    {
      scope: config.smartcar.scope,
      stateRequired: stateRequired(config.smartcar.requireState, redirectUri),
      apiVersion: appTokens ? 3 : 2,
    },
    subscriptions,
  );
  const vehicles = new VehicleService(connect);
  const readings = new ReadingsCache(redis);
  // Pub/sub needs a connection of its own; a lazy one, so one-shot jobs (the sweep) never open it.
  const events = new VehicleEvents(redis, redis.duplicate(), LIVE_LIMITS, logger);
  // Only sessions with a subscription open somewhere pay for the announcement (a PUBLISH).
  const newer: NewerReadings = (session, vehicleId) => {
    if ((session.liveUntil ?? 0) < Date.now()) return;
    events.publish({ sessionHash: session.hash, vehicleId }).catch((err: unknown) => logger.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'vehicle update not published'));
  };
  const commands = new CommandService(vehicles, sessions, credentials, smartcar, readings, logger, newer, subscriptions);
  const signals = new SignalService(
    credentials,
    smartcar,
    readings,
    {
      unitSystem: config.smartcar.unitSystem,
      defaultMaxAgeSec: config.signals.defaultMaxAgeSec,
      maxReadingsPerRequest: config.limits.maxReadingsPerRequest,
    },
    newer,
  );
  const webhooks = webhook.managementToken
    ? new WebhookReceiver(
        new EventLedger(redis),
        new WebhookApplier(sessions.index, readings, events, config.smartcar.unitSystem, logger).apply,
        { managementToken: webhook.managementToken, concurrency: WEBHOOK_CONCURRENCY, maxQueued: WEBHOOK_QUEUE, applyTimeoutMs: WEBHOOK_APPLY_TIMEOUT_MS, actOnTest: config.smartcar.mode !== 'live' },
        logger,
      )
    : null;
  const updates = new VehicleUpdates(events, sessions);
  return { sessions, vault, tokens, appTokens, connect, vehicles, readings, signals, commands, events, webhooks, subscriptions, updates };
}

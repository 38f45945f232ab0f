import 'reflect-metadata';
import { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import type { RedisClient } from './redis';
import type { Config } from './config';
import { buildGatewaySchema } from './graphql/schema'; // before the resolvers: it fixes the schema's field order
import { CommandResolver } from './graphql/command.resolver';
import { ConnectResolver } from './graphql/connect.resolver';
import { SessionResolver } from './graphql/session.resolver';
import { SubscriptionResolver } from './graphql/subscription.resolver';
import { VehicleResolver } from './graphql/vehicle.resolver';
import { startApollo } from './graphql/apollo';
import { apqCache } from './graphql/apq.cache';
import { loadTrustedDocuments } from './graphql/trusted-documents';
import { graphqlRoute } from './http/graphql.route';
import { listenEarly, listenFailure, type EarlyListener } from './http/listener';
import { opsRoutes } from './http/ops.routes';
import { registerRateLimits } from './http/rate-limit';
import { createEdge } from './http/server';
import { registerSessionToken, requestSessionFactory } from './http/session';
import { tutorialRoutes } from './http/tutorial.routes';
import { webhookRoute } from './http/webhook.route';
import { startSubscriptionServer, type SubscriptionServer } from './live/subscription.server';
import { createLogger, resolveLogFormat, type Logger } from './logger';
import { checkEvictionPolicy, connectRedis } from './redis';
import { buildServices, type WebhookIdentity } from './services';
import type { RunningSimulator } from './simulator';
import { createSmartcarClient, type SmartcarClient } from './smartcar/smartcar.client';
import { adapterOptions, smartcarIdentity, type SimulatorIdentity } from './smartcar/smartcar.setup';
import { sweepIdleConnections, type SweepResult } from './tokens/refresh.sweep';
import type { TokenProvider } from './tokens/token.provider';
import type { WebhookSubscriptions } from './live/webhook.subscriptions';

export interface AppDeps {
  logger?: Logger;
  /** Given: the caller owns it (not closed by stop()). */
  redis?: RedisClient;
  /** Subscriptions' ws ping interval (tests shorten it); default 30 s. */
  liveKeepAliveMs?: number;
}

export interface RunningApp {
  /** e.g. `http://127.0.0.1:8000` */
  url: string;
  port: number;
  /** The in-process simulator (no credentials configured), else null. */
  simulator: RunningSimulator | null;
  /** `…/connect`, ready to open in a browser (logged at start): see connectLinkFor. */
  connectLink: string;
  redirectUri: string;
  logger: Logger;
  /** One sweep of idle connections now (the server also runs it every TOKEN_SWEEP_INTERVAL_SEC). */
  sweepNow(): Promise<SweepResult>;
  stop(): Promise<void>;
}

/**
 * The origin a browser on this machine opens for a server listening on `host`: a wildcard or loopback
 * address is `localhost` (in a container, the port that docker-compose publishes on the host).
 */
export function browserOrigin(host: string, port: number): string {
  const local = ['0.0.0.0', '::', '127.0.0.1', '::1', 'localhost'].includes(host);
  return `http://${local ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Wiring only, in steps: Redis; the socket (answering 503 until the end: in simulator mode the
 * redirect URI needs its port); Smartcar or the simulator; the services; Apollo; the HTTP edge on
 * that socket; the background jobs.
 */
export async function createApp(config: Config, deps: AppDeps = {}): Promise<RunningApp> {
  const logger = deps.logger ?? createLogger(config.logLevel, undefined, resolveLogFormat(config.logFormat, config.env, Boolean(process.stdout.isTTY)));
  const trustedDocuments = config.graphql.trustedDocuments === null ? null : await loadTrustedDocuments(config.graphql.trustedDocuments);
  const { redis, release } = await openRedis(config, deps, logger);
  let listener: EarlyListener;
  try {
    listener = await listenEarly(config.host, config.port);
  } catch (err) {
    release();
    throw err;
  }
  let upstream: Upstream;
  try {
    upstream = await startUpstream(config, listener.port);
  } catch (err) {
    listener.close();
    release();
    throw err;
  }
  const { simulator, redirectUri, smartcar, appClientId, webhook } = upstream;
  const services = buildServices(config, redis, smartcar, logger, redirectUri, appClientId, webhook);
  try {
    await services.events.start();
  } catch (err) {
    listener.close();
    void release();
    await simulator?.stop();
    throw err;
  }
  const edge = createEdge(listener, logger, config.limits.trustProxy);
  let apollo: Awaited<ReturnType<typeof startApollo>>;
  let live: SubscriptionServer;
  try {
    const schema = await buildSchema(services);
    apollo = await startApollo({
      schema,
      limits: config.limits,
      production: config.env === 'production',
      logger,
      drain: fastifyApolloDrainPlugin(edge.app),
      apq: { cache: apqCache(redis, config.graphql.apqTtlSec, logger), ttlSec: config.graphql.apqTtlSec },
      trustedDocuments,
    });
    const requestSession = requestSessionFactory({ sessions: services.sessions, cookieSecure: config.session.cookieSecure, unconnectedTtlSec: config.session.unconnectedTtlSec });
    await registerSessionToken(edge.app);
    registerRateLimits(edge.app, redis, config.limits);
    await edge.app.register(opsRoutes(redis, logger));
    await edge.app.register(graphqlRoute({ apollo, signals: services.signals, requestSession }));
    await edge.app.register(tutorialRoutes({ connect: services.connect, vehicles: services.vehicles, signals: services.signals, requestSession }));
    await edge.app.register(webhookRoute(services.webhooks, logger));
    await edge.open();
    live = startSubscriptionServer({
      server: listener.server,
      schema,
      updates: services.updates,
      signals: services.signals,
      limits: config.limits,
      trustedDocuments,
      logger,
      ...(deps.liveKeepAliveMs !== undefined && { keepAliveMs: deps.liveKeepAliveMs }),
    });
    // In-process simulator in v3 mode: its webhook is this gateway (once it answers, for VERIFY).
    if (simulator && config.smartcar.apiVersion === 3 && simulator.webhookStatus().url === null) {
      const wildcard = ['0.0.0.0', '::'].includes(config.host);
      simulator.configure({ webhookUrl: `${wildcard ? `http://127.0.0.1:${listener.port}` : listener.url}/webhooks/smartcar` });
    }
  } catch (err) {
    listener.close();
    await services.events.stop();
    void release();
    await simulator?.stop();
    throw err;
  }

  const jobs = startBackgroundJobs(config, redis, services.tokens, services.subscriptions, logger);
  let stopped: Promise<void> | null = null;
  return {
    url: listener.url,
    port: listener.port,
    simulator,
    connectLink: connectLinkFor(redirectUri, listener.url),
    redirectUri,
    logger,
    sweepNow: jobs.sweepNow,
    // Once, however many times it is called (a signal and a test teardown may both ask).
    stop: () =>
      (stopped ??= (async () => {
        jobs.stopTimers();
        // Apollo drains in-flight requests, then closes Fastify and its socket, which waits for the
        // WebSockets too: those close (1001) once the HTTP connections have ended.
        await Promise.all([apollo.stop(), live.close()]);
        logger.debug('http server drained');
        await jobs.drain();
        await services.events.stop();
        await release(true);
        await simulator?.stop();
        logger.debug('stopped');
      })()),
  };
}

/** The given Redis (the caller's), or one of our own; production refuses an evicting Redis. */
async function openRedis(config: Config, deps: AppDeps, logger: Logger) {
  const redis = deps.redis ?? (await connectRedis(config.redis, logger));
  const owned = !deps.redis;
  const release = async (graceful = false) => {
    if (!owned) return;
    if (graceful) await redis.quit().catch(() => redis.disconnect());
    else redis.disconnect();
  };
  try {
    await checkEvictionPolicy(redis, { production: config.env === 'production', allowEviction: config.redis.allowEviction }, logger);
  } catch (err) {
    void release();
    throw err;
  }
  return { redis, release };
}

interface Upstream {
  simulator: RunningSimulator | null;
  redirectUri: string;
  smartcar: SmartcarClient;
  /** v3 mode: the `client_…` id the application token is bound to. */
  appClientId: string | null;
  webhook: WebhookIdentity;
}

/** Smartcar with the configured credentials, or the built-in simulator (and a redirect URI on our own port). */
async function startUpstream(config: Config, port: number): Promise<Upstream> {
  let simulator: RunningSimulator | null = null;
  let simulatorOrigin: string | null = null;
  let redirectUri = config.smartcar.redirectUri;
  if (!config.smartcar.credentials) {
    try {
      // Loaded only in this mode: the simulator and Express are 6 % of a start-up that does not use them.
      const { startSimulator } = await import('./simulator');
      simulator = await startSimulator(config.simulator);
    } catch (err) {
      throw listenFailure(err, 'the built-in Smartcar simulator', config.simulator.host, config.simulator.port, 'SIMULATOR_PORT', 'SIMULATOR_HOST');
    }
    // Bound to every interface (a container): browsers and the SDK both reach it as localhost.
    const wildcard = config.simulator.host === '0.0.0.0' || config.simulator.host === '::';
    simulatorOrigin = wildcard ? `http://localhost:${simulator.port}` : simulator.origin;
    redirectUri ??= `http://localhost:${port}/exchange`;
  }
  // Config guarantees a redirect URI whenever credentials are set.
  const { smartcar, appClientId } = smartcarClientFor(config, simulator && simulatorOrigin ? { client: simulator.client, v3: simulator.v3, origin: simulatorOrigin } : null, redirectUri!);
  // The simulator's webhook unless configured otherwise; its vehicles are subscribed in v3 mode only.
  const webhook: WebhookIdentity = {
    managementToken: config.smartcar.managementToken ?? simulator?.v3.managementToken ?? null,
    webhookId: config.smartcar.webhookId ?? (simulator && config.smartcar.apiVersion === 3 ? simulator.v3.webhookId : null),
  };
  return { simulator, redirectUri: redirectUri!, smartcar, appClientId, webhook };
}

function buildSchema(services: ReturnType<typeof buildServices>) {
  const resolvers = new Map<unknown, unknown>([
    [ConnectResolver, new ConnectResolver(services.connect)],
    [SessionResolver, new SessionResolver(services.vehicles)],
    [VehicleResolver, new VehicleResolver(services.vehicles, services.signals)],
    [CommandResolver, new CommandResolver(services.commands)],
    [SubscriptionResolver, new SubscriptionResolver(services.signals)],
  ]);
  return buildGatewaySchema({ get: (cls) => resolvers.get(cls) });
}

/**
 * The idle sweep (refresh tokens die after 60 days unused; one instance at a time) and the recovery
 * of refreshes of unknown outcome. drain() waits for the sweep's batch and every refresh already
 * sent: one cut off would leave a rotated pair unstored (each is bounded by the token call's deadline).
 */
function startBackgroundJobs(config: Config, redis: RedisClient, tokens: TokenProvider, subscriptions: WebhookSubscriptions | null, logger: Logger) {
  const stopping = new AbortController();
  let sweeping: Promise<SweepResult> | null = null;
  const sweepNow = () =>
    (sweeping ??= sweepIdleConnections({ redis, keyPrefix: config.redis.keyPrefix, tokens, logger }, config.refresh.sweepAgeDays * 86_400_000, { signal: stopping.signal }).finally(() => {
      sweeping = null;
    }));
  const sweepTimer =
    config.refresh.sweepIntervalSec > 0
      ? setInterval(() => void sweepNow().catch((err: unknown) => logger.error({ err }, 'idle-connection sweep failed')), config.refresh.sweepIntervalSec * 1000).unref()
      : null;
  // Finishes refreshes of unknown outcome that any instance left behind, several times per grace window.
  const recoveryTimer = setInterval(
    () => void tokens.recoverPending().catch((err: unknown) => logger.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'refresh recovery round failed')),
    recoveryIntervalMs(config.refresh.graceMs),
  ).unref();
  // Webhook subscription changes that failed (any instance's), retried when due.
  const subscriptionTimer = subscriptions
    ? setInterval(
        () => void subscriptions.runDue().catch((err: unknown) => logger.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'webhook subscription round failed')),
        SUBSCRIPTION_ROUND_MS,
      ).unref()
    : null;
  return {
    sweepNow,
    stopTimers() {
      if (sweepTimer) clearInterval(sweepTimer);
      clearInterval(recoveryTimer);
      if (subscriptionTimer) clearInterval(subscriptionTimer);
      stopping.abort();
    },
    async drain() {
      await sweeping?.catch(() => undefined);
      await tokens.drain();
      await subscriptions?.drain();
    },
  };
}

/** The Smartcar client (v2, and v3 in v3 mode) of this configuration, or of the in-process simulator. */
function smartcarClientFor(config: Config, simulator: SimulatorIdentity | null, redirectUri: string): { smartcar: SmartcarClient; appClientId: string | null } {
  const identity = smartcarIdentity(config.smartcar, simulator);
  const options = adapterOptions(config.smartcar, identity, redirectUri);
  return { smartcar: createSmartcarClient(options.v2, options.v3), appClientId: identity.v3?.clientId ?? null };
}

/** How often each instance retries webhook subscription changes that are due. */
const SUBSCRIPTION_ROUND_MS = 5_000;

/** How often each instance looks for refreshes to finish: several times per grace window. */
export function recoveryIntervalMs(graceMs: number): number {
  return Math.max(250, Math.min(5_000, Math.floor(graceMs / 8)));
}

/**
 * The browser's way in, `GET /connect`: beside an http(s) redirect URI that ends in `/exchange`
 * (in simulator mode `http://localhost:PORT/exchange`), because the browser must come back from
 * Connect to the origin that set its cookie; else on the gateway's own address.
 */
function connectLinkFor(redirectUri: string, gatewayUrl: string): string {
  const redirect = /^https?:\/\//i.test(redirectUri) ? new URL(redirectUri) : null;
  if (redirect && redirect.pathname.endsWith('/exchange')) return new URL('connect', redirect).toString();
  return `${gatewayUrl}/connect`;
}

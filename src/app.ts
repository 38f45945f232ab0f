import 'reflect-metadata';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type NextFunction, type Request, type Response } from 'express';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { RedisClient } from './redis';
import type { Config } from './config';
import { StartupError } from './errors';
import type { GraphQLContext } from './graphql/context';
import { createFormatError, errorLogPlugin } from './graphql/format-error';
import { selectionLimitsRule } from './graphql/selection-limits.rule';
import { buildGatewaySchema } from './graphql/schema'; // before the resolvers: it fixes the schema's field order
import { CommandResolver } from './graphql/command.resolver';
import { ConnectResolver } from './graphql/connect.resolver';
import { SessionResolver } from './graphql/session.resolver';
import { VehicleResolver } from './graphql/vehicle.resolver';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { createLogger, resolveLogFormat, type Logger } from './logger';
import { metrics } from './metrics';
import { metricsPlugin } from './graphql/metrics.plugin';
import { outageStatusPlugin } from './graphql/status.plugin';
import { opsRoutes } from './rest/ops.routes';
import { createRateLimiter, rateLimitMiddleware } from './rest/rate-limit';
import { checkEvictionPolicy, connectRedis } from './redis';
import { tutorialRoutes } from './rest/tutorial.routes';
import { RequestSession } from './session/request-session';
import { presentedToken, SESSION_COOKIE } from './session/session.token';
import { startSimulator, type RunningSimulator } from './simulator';
import { createSmartcarClient, type SmartcarClient } from './smartcar/smartcar.client';
import { adapterOptions, smartcarIdentity, type SimulatorIdentity } from './smartcar/smartcar.setup';
import { buildServices } from './services';
import { sweepIdleConnections, type SweepResult } from './tokens/refresh.sweep';

const REST_OPERATIONS = new Set(['/connect', '/exchange', '/vehicle']);

export interface AppDeps {
  logger?: Logger;
  /** Given: the caller owns it (not closed by stop()). */
  redis?: RedisClient;
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

/** A listen that failed for a reason the person starting the process can fix: one line saying how. */
function listenFailure(err: unknown, what: string, host: string, port: number, portVar: string, hostVar: string): Error {
  const code = (err as { code?: unknown }).code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (code === 'EADDRINUSE') return new StartupError(`Cannot start ${what} on ${where}: the port is in use (another gateway?). Stop what listens there, or set ${portVar} to a free port.`);
  if (code === 'EACCES') return new StartupError(`Cannot start ${what} on ${where}: permission denied (ports below 1024 need privileges). Set ${portVar} to 1024 or above.`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new StartupError(`Cannot start ${what} on ${where}: ${host} is not an address of this machine. Set ${hostVar} to one (127.0.0.1, or 0.0.0.0 for every interface).`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

export async function createApp(config: Config, deps: AppDeps = {}): Promise<RunningApp> {
  const logger = deps.logger ?? createLogger(config.logLevel, undefined, resolveLogFormat(config.logFormat, config.env, Boolean(process.stdout.isTTY)));
  const redis = deps.redis ?? (await connectRedis(config.redis, logger));
  const ownsRedis = !deps.redis;
  try {
    await checkEvictionPolicy(redis, { production: config.env === 'production', allowEviction: config.redis.allowEviction }, logger);
  } catch (err) {
    if (ownsRedis) redis.disconnect();
    throw err;
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Never `true`: Express would then trust every hop and take the client's own leftmost entry.
  const trust = config.limits.trustProxy;
  app.set('trust proxy', trust === false ? false : 'hops' in trust ? trust.hops : trust.addresses);
  const httpServer = createServer(app);

  // Until everything below is wired (the redirect URI needs the bound port), answer 503.
  let ready = false;
  app.use((req: Request, res: Response, next: NextFunction) => {
    const requestId = randomUUID();
    res.setHeader('x-request-id', requestId);
    const started = process.hrtime.bigint();
    const path = req.originalUrl.split('?')[0]!;
    res.on('finish', () => {
      logger.info({ requestId, method: req.method, path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
      // GraphQL operations are counted by the Apollo plugin, with their names.
      if (!path.startsWith('/graphql')) {
        const operation = REST_OPERATIONS.has(path) ? `${req.method} ${path}` : 'other';
        metrics.requests.inc({ operation, outcome: res.statusCode < 400 ? 'ok' : `http_${res.statusCode}` });
      }
    });
    if (!ready) return void res.status(503).json({ error: { code: 'SERVICE_UNAVAILABLE', message: 'Starting up.' } });
    next();
  });
  app.use(opsRoutes(redis, logger));
  app.use(rateLimitMiddleware(createRateLimiter(redis, config.limits)));

  const release = () => {
    httpServer.close();
    if (ownsRedis) redis.disconnect();
  };
  httpServer.listen(config.port, config.host);
  try {
    await once(httpServer, 'listening');
  } catch (err) {
    release();
    throw listenFailure(err, 'the gateway', config.host, config.port, 'PORT', 'HOST');
  }
  const { port } = httpServer.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  let simulator: RunningSimulator | null = null;
  let simulatorOrigin: string | null = null;
  let redirectUri = config.smartcar.redirectUri;
  if (!config.smartcar.credentials) {
    try {
      simulator = await startSimulator(config.simulator);
    } catch (err) {
      release();
      throw listenFailure(err, 'the built-in Smartcar simulator', config.simulator.host, config.simulator.port, 'SIMULATOR_PORT', 'SIMULATOR_HOST');
    }
    // Bound to every interface (a container): browsers and the SDK both reach it as localhost.
    const wildcard = config.simulator.host === '0.0.0.0' || config.simulator.host === '::';
    simulatorOrigin = wildcard ? `http://localhost:${simulator.port}` : simulator.origin;
    redirectUri ??= `http://localhost:${port}/exchange`;
  }
  // Config guarantees a redirect URI whenever credentials are set.
  const { smartcar, appClientId } = smartcarClientFor(config, simulator && simulatorOrigin ? { client: simulator.client, v3: simulator.v3, origin: simulatorOrigin } : null, redirectUri!);

  const { sessions, tokens, connect, vehicles, signals, commands } = buildServices(config, redis, smartcar, logger, redirectUri!, appClientId);

  const requestSession = (req: Request, res: Response) =>
    new RequestSession(sessions, presentedToken(req), (cookie) => setSessionCookie(res, cookie), { secure: config.session.cookieSecure }, config.session.unconnectedTtlSec);

  const resolvers = new Map<unknown, unknown>([
    [ConnectResolver, new ConnectResolver(connect)],
    [SessionResolver, new SessionResolver(vehicles)],
    [VehicleResolver, new VehicleResolver(vehicles, signals)],
    [CommandResolver, new CommandResolver(commands)],
  ]);
  const schema = await buildGatewaySchema({ get: (cls) => resolvers.get(cls) });
  const production = config.env === 'production';
  // Depth, aliases, tokens, cost and directives bounded before execution: one crafted query must not
  // fan out into hundreds of billed calls (the readings cap in SignalService is the last line).
  const armor = new ApolloArmor({
    // Introspection counts too: a deeply nested __schema query is the classic depth attack.
    maxDepth: { n: config.limits.maxDepth, ignoreIntrospection: false },
    maxAliases: { n: config.limits.maxAliases },
    // Tokens are bounded by graphql-js's own parser option below: armor's Apollo plugin throws
    // from a plugin hook, which Apollo answers with a 500.
    maxTokens: { enabled: false },
    costLimit: { maxCost: config.limits.maxCost, ignoreIntrospection: false },
    maxDirectives: { n: 10 },
    blockFieldSuggestion: { enabled: production },
  }).protect();
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    // First, so that a query with too many selections is refused before the costly rules walk it.
    validationRules: [selectionLimitsRule({ maxSelections: config.limits.maxSelections, maxRepeats: 20 }), ...armor.validationRules],
    parseOptions: { maxTokens: config.limits.maxTokens },
    introspection: !production,
    hideSchemaDetailsFromClientErrors: production,
    csrfPrevention: true,
    stopOnTerminationSignals: false, // main.ts owns the signals and stops everything in order
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    formatError: createFormatError(logger),
    plugins: [
      ...armor.plugins,
      metricsPlugin(),
      errorLogPlugin(logger),
      outageStatusPlugin(),
      // Apollo's default cache-control plugin hooks every field (willResolveField) to compute HTTP
      // cache hints nobody uses here (answers are per session): −46 % CPU on a 10 × 9 dashboard
      // served from the readings cache (BENCHMARKS.md, "Performance problems").
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginDrainHttpServer({ httpServer }),
      production ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: true }),
    ],
  });
  await apollo.start();

  app.use(
    '/graphql',
    express.json({ limit: '64kb' }),
    expressMiddleware(apollo, {
      context: async ({ req, res }): Promise<GraphQLContext> => {
        const session = requestSession(req, res);
        return { requestId: String(res.getHeader('x-request-id')), session, loaders: { signals: signals.loader(session) } };
      },
    }),
  );
  app.use(tutorialRoutes({ connect, vehicles, signals, requestSession, logger }));
  app.use((_req: Request, res: Response) => void res.status(404).json({ error: { code: 'NOT_FOUND', message: 'No such route.' } }));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) return void res.status(status).json({ error: { code: 'BAD_USER_INPUT', message: 'Malformed request.' } });
    logger.error({ err }, 'unhandled route error');
    res.status(500).json({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' } });
  });
  ready = true;

  // Keeps idle connections alive (refresh tokens die after 60 days unused); one instance at a time.
  // stop() aborts it between batches and waits for the refreshes already sent.
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

  let stopped: Promise<void> | null = null;
  const connectLink = connectLinkFor(redirectUri!, url);

  return {
    url,
    port,
    simulator,
    connectLink,
    redirectUri: redirectUri!,
    logger,
    sweepNow,
    // Once, however many times it is called (a signal and a test teardown may both ask).
    stop: () =>
      (stopped ??= (async () => {
        if (sweepTimer) clearInterval(sweepTimer);
        clearInterval(recoveryTimer);
        stopping.abort();
        await apollo.stop(); // drains in-flight requests, then closes the HTTP server
        logger.debug('http server drained');
        // A refresh cut off here would leave a rotated pair unstored: let the sweep's batch and every
        // refresh already sent finish (each is bounded by the token call's deadline).
        await sweeping?.catch(() => undefined);
        await tokens.drain();
        if (ownsRedis) await redis.quit().catch(() => redis.disconnect());
        await simulator?.stop();
        logger.debug('stopped');
      })()),
  };
}

/** The Smartcar client (v2, and v3 in v3 mode) of this configuration, or of the in-process simulator. */
function smartcarClientFor(config: Config, simulator: SimulatorIdentity | null, redirectUri: string): { smartcar: SmartcarClient; appClientId: string | null } {
  const identity = smartcarIdentity(config.smartcar, simulator);
  const options = adapterOptions(config.smartcar, identity, redirectUri);
  return { smartcar: createSmartcarClient(options.v2, options.v3), appClientId: identity.v3?.clientId ?? null };
}

/** How often each instance looks for refreshes to finish: several times per grace window. */
export function recoveryIntervalMs(graceMs: number): number {
  return Math.max(250, Math.min(5_000, Math.floor(graceMs / 8)));
}

/** One `sid` cookie per answer: a later one (the session's longer life, a sign-out) replaces an earlier one. */
function setSessionCookie(res: Response, cookie: string): void {
  const others = [res.getHeader('set-cookie') ?? []].flat().map(String).filter((c) => !c.startsWith(`${SESSION_COOKIE}=`));
  res.setHeader('Set-Cookie', [...others, cookie]);
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

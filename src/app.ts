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
import { connectRedis } from './redis';
import { tutorialRoutes } from './rest/tutorial.routes';
import { RequestSession } from './session/request-session';
import { presentedSessionHash } from './session/session.token';
import { startSimulator, type RunningSimulator } from './simulator';
import { createSmartcarClient } from './smartcar/smartcar.client';
import { buildServices } from './services';
import { sweepIdleConnections, type SweepResult } from './tokens/refresh.sweep';

const REST_OPERATIONS = new Set(['/exchange', '/vehicle']);

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
  /** A Connect URL without state, ready to open in a browser (logged at start). */
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

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.limits.trustProxy);
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
  let client = config.smartcar.credentials;
  let origins = config.smartcar.origins;
  let redirectUri = config.smartcar.redirectUri;
  if (!client) {
    try {
      simulator = await startSimulator(config.simulator);
    } catch (err) {
      release();
      throw listenFailure(err, 'the built-in Smartcar simulator', config.simulator.host, config.simulator.port, 'SIMULATOR_PORT', 'SIMULATOR_HOST');
    }
    client = simulator.client;
    // Bound to every interface (a container): browsers and the SDK both reach it as localhost.
    const wildcard = config.simulator.host === '0.0.0.0' || config.simulator.host === '::';
    const origin = wildcard ? `http://localhost:${simulator.port}` : simulator.origin;
    origins = { auth: origin, api: origin, management: origin };
    redirectUri ??= `http://localhost:${port}/exchange`;
  }
  // Config guarantees a redirect URI whenever credentials are set.
  const smartcar = createSmartcarClient({ clientId: client.clientId, clientSecret: client.clientSecret, redirectUri: redirectUri!, mode: config.smartcar.mode, timeoutMs: config.smartcar.timeoutMs, origins });

  const { sessions, tokens, connect, vehicles, signals, commands } = buildServices(config, redis, smartcar, logger);

  const requestSession = (req: Request, res: Response) =>
    new RequestSession(sessions, presentedSessionHash(req), (cookie) => res.append('Set-Cookie', cookie), { secure: config.session.cookieSecure }, config.session.unconnectedTtlSec);

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
    validationRules: armor.validationRules,
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
  const sweepNow = () => sweepIdleConnections({ redis, keyPrefix: config.redis.keyPrefix, tokens, logger }, config.refresh.sweepAgeDays * 86_400_000);
  const sweepTimer =
    config.refresh.sweepIntervalSec > 0
      ? setInterval(() => void sweepNow().catch((err: unknown) => logger.error({ err }, 'idle-connection sweep failed')), config.refresh.sweepIntervalSec * 1000).unref()
      : null;

  const connectLink = smartcar.authUrl({ scope: config.smartcar.scope });

  return {
    url,
    port,
    simulator,
    connectLink,
    redirectUri: redirectUri!,
    logger,
    sweepNow,
    stop: async () => {
      if (sweepTimer) clearInterval(sweepTimer);
      await apollo.stop(); // drains in-flight requests, then closes the HTTP server
      logger.debug('http server drained');
      if (ownsRedis) await redis.quit().catch(() => redis.disconnect());
      await simulator?.stop();
      logger.debug('stopped');
    },
  };
}

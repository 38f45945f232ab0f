import './compile-cache'; // first: every module loaded after it is cached compiled
import { browserOrigin, createApp } from './app';
import { ConfigError, loadConfig } from './config';
import { StartupError } from './errors';
import { tuneHeap } from './heap';
import { metrics } from './metrics';

/** The only entry: loadConfig() → createApp() → listen; SIGTERM/SIGINT → stop(). */
async function main(): Promise<void> {
  tuneHeap();
  const config = loadConfig();
  const app = await createApp(config);
  const log = app.logger;
  if (app.simulator) {
    log.info({ simulator: app.simulator.origin }, `No Smartcar credentials: using the built-in Smartcar simulator at ${app.simulator.origin}`);
  }
  if (config.smartcar.apiVersion === 3) log.info('Smartcar API v3: new connections use the application token and the driver\'s user id');
  if (config.tokenKey.generated) {
    log.warn('TOKEN_ENCRYPTION_KEY is not set: using a random key; sessions will not survive a restart');
  }
  // What a browser opens: in a container the gateway listens on 0.0.0.0, which no browser can open.
  const open = browserOrigin(config.host, app.port);
  if (config.env === 'production') {
    log.info({ url: app.url }, `Gateway ready: GraphQL on POST ${open}/graphql`);
  } else {
    log.info({ url: app.url }, `Gateway ready. Apollo Sandbox: ${open}/graphql`);
    log.info("Apollo Sandbox loads from Apollo's CDN, so it needs the internet; without it, `npm run demo` shows the whole flow in the terminal");
  }
  log.info({ redirectUri: app.redirectUri }, `Connect a car: ${app.connectLink}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Logged and counted; the process keeps serving.
  process.on('unhandledRejection', (reason) => {
    metrics.unhandledRejections.inc();
    log.error({ err: reason }, 'unhandled rejection');
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StartupError) {
    console.error(err.message);
  } else {
    console.error('Failed to start:', err);
  }
  process.exit(1);
});

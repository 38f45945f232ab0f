import { loadConfig, ConfigError } from './config';
import { StartupError } from './errors';
import { createLogger } from './logger';
import { connectRedis } from './redis';
import { buildServices } from './services';
import { createSmartcarClient } from './smartcar/smartcar.client';
import { adapterOptions, smartcarIdentity } from './smartcar/smartcar.setup';
import { sweepIdleConnections } from './tokens/refresh.sweep';

/**
 * `npm run refresh-sweep`: one sweep of idle connections (the server also runs it periodically).
 * SIGTERM/SIGINT stop it between batches; it exits once the refreshes already sent are stored. A
 * sweep killed outright leaves its refresh recorded in Redis, and the running gateways finish it.
 */
async function main(): Promise<number> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  if (!config.smartcar.credentials || !config.smartcar.redirectUri) {
    logger.info('No Smartcar credentials: nothing to sweep (the built-in simulator forgets its tokens when it stops)');
    return 0;
  }
  const redis = await connectRedis(config.redis, logger);
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());
  try {
    // The sweep refreshes v2 pairs only: the v2 adapter is all it needs.
    const options = adapterOptions(config.smartcar, smartcarIdentity(config.smartcar, null), config.smartcar.redirectUri);
    const { tokens } = buildServices(config, redis, createSmartcarClient(options.v2, null), logger, config.smartcar.redirectUri);
    try {
      const result = await sweepIdleConnections({ redis, keyPrefix: config.redis.keyPrefix, tokens, logger }, config.refresh.sweepAgeDays * 86_400_000, { signal: stop.signal });
      if (!result.ran) logger.info('another instance is sweeping; nothing done');
      return result.failed > 0 ? 1 : 0;
    } finally {
      if (!stop.signal.aborted) await tokens.settle(config.refresh.graceMs);
      await tokens.drain();
    }
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof ConfigError || err instanceof StartupError ? err.message : err);
    process.exit(1);
  },
);

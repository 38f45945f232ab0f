import type { RedisClient } from './redis';
import type { Config } from './config';
import { ConnectService, stateRequired } from './connect/connect.service';
import type { Logger } from './logger';
import { SessionStore } from './session/session.store';
import type { SmartcarPort } from './smartcar/smartcar.port';
import { TokenCredentials } from './tokens/credentials';
import { TokenCipher } from './tokens/token.cipher';
import { TokenProvider } from './tokens/token.provider';
import { TokenVault } from './tokens/token.vault';
import { CommandService } from './vehicles/command.service';
import { ReadingsCache } from './vehicles/readings.cache';
import { SignalService } from './vehicles/signal.service';
import { VehicleService } from './vehicles/vehicle.service';

/**
 * The singletons behind the edges, built once (by the server and by `npm run refresh-sweep`).
 * `redirectUri`: the one the Smartcar client uses (in simulator mode only known once the port is bound).
 */
export function buildServices(config: Config, redis: RedisClient, smartcar: SmartcarPort, logger: Logger, redirectUri: string) {
  const sessions = new SessionStore(redis);
  const vault = new TokenVault(redis, new TokenCipher(config.tokenKey.key, config.tokenKey.previous));
  // The reconnect URL needs ConnectService, which needs the provider: bound late.
  const tokens = new TokenProvider(vault, redis, smartcar, config.refresh, logger, (hash) => connect.reconnectUrl(hash));
  const credentials = new TokenCredentials(tokens);
  const connect: ConnectService = new ConnectService(sessions, vault, credentials, smartcar, {
    scope: config.smartcar.scope,
    stateRequired: stateRequired(config.smartcar.requireState, redirectUri),
  });
  const vehicles = new VehicleService(connect);
  const readings = new ReadingsCache(redis);
  const commands = new CommandService(vehicles, sessions, credentials, smartcar, readings, logger);
  const signals = new SignalService(credentials, smartcar, readings, {
    unitSystem: config.smartcar.unitSystem,
    defaultMaxAgeSec: config.signals.defaultMaxAgeSec,
    maxReadingsPerRequest: config.limits.maxReadingsPerRequest,
  });
  return { sessions, vault, tokens, connect, vehicles, signals, commands };
}

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StartupError } from '../errors';

/**
 * The gateway's socket, bound before anything else is wired: in simulator mode the redirect URI
 * needs the bound port. Until `handOver` it answers every request 503 (a load balancer probing
 * early sees "not yet", not a refused connection); then Fastify's handler takes every request.
 */
export interface EarlyListener {
  server: Server;
  port: number;
  /** `http://host:port`, an IPv6 host in brackets. */
  url: string;
  handOver(handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  close(): void;
}

const STARTING = JSON.stringify({ error: { code: 'SERVICE_UNAVAILABLE', message: 'Starting up.' } });

function starting(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(STARTING) }).end(STARTING);
}

export async function listenEarly(host: string, port: number): Promise<EarlyListener> {
  const server = createServer(starting);
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (err) {
    server.close();
    throw listenFailure(err, 'the gateway', host, port, 'PORT', 'HOST');
  }
  const bound = (server.address() as AddressInfo).port;
  return {
    server,
    port: bound,
    url: `http://${bracketed(host)}:${bound}`,
    handOver(handler) {
      server.removeListener('request', starting);
      server.on('request', handler);
    },
    close: () => void server.close(),
  };
}

const bracketed = (host: string) => (host.includes(':') ? `[${host}]` : host);

/** A listen that failed for a reason the person starting the process can fix: one line saying how. */
export function listenFailure(err: unknown, what: string, host: string, port: number, portVar: string, hostVar: string): Error {
  const code = (err as { code?: unknown }).code;
  const where = `${bracketed(host)}:${port}`;
  if (code === 'EADDRINUSE') return new StartupError(`Cannot start ${what} on ${where}: the port is in use (another gateway?). Stop what listens there, or set ${portVar} to a free port.`);
  if (code === 'EACCES') return new StartupError(`Cannot start ${what} on ${where}: permission denied (ports below 1024 need privileges). Set ${portVar} to 1024 or above.`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new StartupError(`Cannot start ${what} on ${where}: ${host} is not an address of this machine. Set ${hostVar} to one (127.0.0.1, or 0.0.0.0 for every interface).`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

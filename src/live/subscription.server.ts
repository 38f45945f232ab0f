import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { handleProtocols } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { subscriptionProtocol, type ProtocolOptions } from './subscription.protocol';

/**
 * GraphQL over WebSocket on the gateway's own socket, path `/graphql`: ws sockets (no server of
 * their own: the HTTP server's `upgrade` event), each handed to graphql-ws's protocol server
 * (subscription.protocol.ts). Bounded: a message size, a ws ping whose pong must come back before
 * the next one, and an orderly close at shutdown.
 */

export interface SubscriptionServerOptions extends ProtocolOptions {
  /** The gateway's HTTP server: its `upgrade` event. */
  server: Server;
  /** A ws ping this often; a socket that does not answer one within as long is terminated. */
  keepAliveMs?: number;
}

export interface SubscriptionServer {
  /**
   * Refuses new upgrades at once; once the HTTP connections have ended (at most DRAIN_MS), completes
   * every subscription and closes every socket with 1001 (going away).
   */
  close(): Promise<void>;
}

export const KEEP_ALIVE_MS = 30_000;
/** A subscribe message is a document and its variables: bounded like an HTTP body. */
export const MAX_PAYLOAD = 64 * 1024;
/** How long close() waits for the HTTP connections (Apollo's drain force-closes them after 10 s too). */
const DRAIN_MS = 10_000;
const PATH = /^\/graphql\/?$/i;

export function startSubscriptionServer(options: SubscriptionServerOptions): SubscriptionServer {
  const { server, updates, logger } = options;
  const protocol = subscriptionProtocol(options);
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, handleProtocols });
  let closing = false;

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined); // a client gone mid-handshake: nothing to do
    if (closing) return refuse(socket, 503, 'Service Unavailable');
    if (!PATH.test(pathOf(request.url))) return refuse(socket, 404, 'Not Found');
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (closing) ws.close(1001, 'Going away');
      else open(ws, request);
    });
  };
  server.on('upgrade', onUpgrade);

  const open = (socket: WebSocket, request: IncomingMessage) => {
    // The client's doing (a message over MAX_PAYLOAD: 1009, a protocol violation: 1002): ws closes
    // the socket itself.
    socket.on('error', (err) => logger.debug({ err: { name: err.name, message: err.message } }, 'websocket closed on a client error'));
    socket.on('pong', () => unanswered.delete(socket));
    const closed = protocol.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve(); // gone: nothing to deliver to
            socket.send(data, (err) => (err ? reject(err) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (data) => {
            handle(String(data)).catch((err: unknown) => {
              logger.error({ err }, 'subscription message failed');
              socket.close(1011, 'Internal server error');
            });
          }),
      },
      { socket, request },
    );
    socket.once('close', (code, reason) => {
      unanswered.delete(socket);
      void closed(code, reason.toString());
    });
  };

  // One timer for every socket: each ping must be answered before the next round.
  const unanswered = new Set<WebSocket>();
  const heartbeat = setInterval(() => {
    for (const socket of wss.clients) {
      if (unanswered.has(socket)) {
        socket.terminate();
        continue;
      }
      unanswered.add(socket);
      socket.ping();
    }
  }, options.keepAliveMs ?? KEEP_ALIVE_MS).unref();

  let closed: Promise<void> | null = null;
  return {
    close: () =>
      (closed ??= (async () => {
        closing = true;
        await httpDrained(server, wss, DRAIN_MS);
        updates.endAll();
        // Each ended stream sends its `complete` within the current round of promise jobs (one still
        // reading Redis for an event may miss the socket, which the client sees as the 1001 alone).
        await new Promise((resolve) => setImmediate(resolve));
        clearInterval(heartbeat);
        for (const socket of wss.clients) socket.close(1001, 'Going away');
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        server.off('upgrade', onUpgrade);
      })()),
  };
}

function pathOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://gateway').pathname;
  } catch {
    return '';
  }
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/**
 * Resolves once the server's sockets are the WebSockets alone (every HTTP request answered and its
 * connection closed), or after `ms`. The HTTP server's close() waits for every socket, WebSockets
 * included, so they must be closed by us, and only then: requests in flight are answered before the
 * subscriptions end. close() closes the keep-alive connections idle at that moment only; one whose
 * request ends later would stay until its client lets go (undici: 4 s), so it is closed here once
 * idle (upgraded sockets are not among them).
 */
async function httpDrained(server: Server, wss: WebSocketServer, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!server.listening) server.closeIdleConnections();
    const sockets = await new Promise<number>((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
    if (sockets <= wss.clients.size) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

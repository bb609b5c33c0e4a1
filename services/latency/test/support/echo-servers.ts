import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { createLogger } from '@gavel/shared';
import { createEchoServer, type EchoServer } from '../../src/server/echo-server.js';

/** The real echo server on a free port, closed by the returned function. */
export async function startEchoServer(
  options: { socketIoEcho?: boolean; maxPayload?: number } = {},
): Promise<{ server: EchoServer; port: number; close: () => Promise<void> }> {
  const server = createEchoServer({
    port: 0,
    host: '127.0.0.1',
    logger: createLogger('latency-test', 'silent'),
    drainTimeoutMs: 1000,
    ...options,
  });
  const port = await server.listen();
  return { server, port, close: () => server.close() };
}

export interface MisbehavingServer {
  readonly url: string;
  /** Connections the server has accepted so far. */
  connectionsSeen(): number;
  close(): Promise<void>;
}

/**
 * A bare ws echo server whose `hold` decides, per message, how long to keep it before the
 * echo (0 = at once). Stands in for a server with hiccups the load client must not hide.
 */
async function startHoldingServer(
  hold: (socket: WebSocket, nth: number, now: number) => number,
): Promise<MisbehavingServer> {
  const http: Server = createHttpServer();
  const wss = new WebSocketServer({ server: http, path: '/echo', perMessageDeflate: false });
  let connections = 0;
  wss.on('connection', (socket) => {
    connections++;
    let nth = 0;
    socket.on('message', (data: RawData, isBinary: boolean) => {
      nth++;
      const ms = hold(socket, nth, Date.now());
      if (ms <= 0) socket.send(data, { binary: isBinary });
      else setTimeout(() => socket.send(data, { binary: isBinary }), ms);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/echo`,
    connectionsSeen: () => connections,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((r) => http.close(r));
    },
  };
}

/** Every `every`-th message on each connection comes back `delayMs` late; the rest at once. */
export function startDelayingServer(every: number, delayMs: number): Promise<MisbehavingServer> {
  return startHoldingServer((_socket, nth) => (nth % every === 0 ? delayMs : 0));
}

/**
 * Once `afterMs` have passed since the first message, the server stalls for `stallMs`: every
 * message arriving meanwhile is answered only when the stall ends, like a server whose event
 * loop is blocked (without blocking the test's own event loop).
 */
export function startStallingServer(afterMs: number, stallMs: number): Promise<MisbehavingServer> {
  let first = 0;
  let stallFrom = 0;
  let stallUntil = 0;
  return startHoldingServer((_socket, _nth, now) => {
    if (!first) first = now;
    if (!stallFrom && now - first >= afterMs) {
      stallFrom = now;
      stallUntil = now + stallMs;
    }
    return now < stallUntil ? stallUntil - now : 0;
  });
}

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { createRegistry, registerOpsRoutes, type Logger } from '@gavel/shared';
import { createEchoMetrics, type EchoMetrics } from './echo-metrics.js';

export interface EchoServerOptions {
  /** @default 8090 */
  readonly port?: number;
  /** @default '0.0.0.0' */
  readonly host?: string;
  /** Serve the Socket.IO `/echo` namespace at path /socket.io. @default true */
  readonly socketIoEcho?: boolean;
  /** Largest frame accepted, in bytes. @default 1048576 */
  readonly maxPayload?: number;
  /** How long close() lets clients leave before cutting them off. @default 5000 */
  readonly drainTimeoutMs?: number;
  readonly logger: Logger;
}

export interface EchoServer {
  readonly app: FastifyInstance;
  readonly metrics: EchoMetrics;
  /** Resolves with the bound port once listening. */
  listen(): Promise<number>;
  /** Stops taking connections, tells clients to go (1001), then closes. */
  close(): Promise<void>;
}

export const ECHO_PATH = '/echo';
export const SOCKET_IO_PATH = '/socket.io';

function byteLength(data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (Buffer.isBuffer(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    return data.byteLength;
  }
  return 0;
}

/**
 * The latency lab's echo server: raw WebSocket on /echo (frames back unchanged, same opcode),
 * optionally Socket.IO's `/echo` namespace (event `echo` answered through its ack), and the ops
 * routes on the same port.
 */
export function createEchoServer(options: EchoServerOptions): EchoServer {
  const { logger } = options;
  const maxPayload = options.maxPayload ?? 1024 * 1024;
  const registry = createRegistry('latency');
  const metrics = createEchoMetrics(registry);
  let draining = false;

  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
  });
  registerOpsRoutes(app, { registry, checks: {}, isDraining: () => draining });

  // Compression would add CPU time to every frame and blur what the lab measures.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload });
  const wsMessages = metrics.messages.labels('ws');
  const wsBytes = metrics.bytes.labels('ws');
  const wsConnections = metrics.connections.labels('ws');
  // Zero series from the start, so a dashboard tells "no traffic" from "no server".
  for (const protocol of ['ws', 'socket.io']) {
    metrics.messages.labels(protocol).inc(0);
    metrics.bytes.labels(protocol).inc(0);
    metrics.connections.labels(protocol).set(0);
  }
  wss.on('connection', (socket: WebSocket) => {
    wsConnections.inc();
    socket.on('message', (data: RawData, isBinary: boolean) => {
      socket.send(data, { binary: isBinary });
      wsMessages.inc();
      wsBytes.inc(byteLength(data));
    });
    socket.on('error', (err) => logger.debug({ err }, 'echo socket error'));
    socket.once('close', () => wsConnections.dec());
  });

  let io: SocketIoServer | undefined;
  if (options.socketIoEcho ?? true) {
    io = new SocketIoServer(app.server, {
      path: SOCKET_IO_PATH,
      serveClient: false,
      perMessageDeflate: false,
      maxHttpBufferSize: maxPayload,
      // Upgrades for other paths are ours (below); engine.io must not cut them off.
      destroyUpgrade: false,
    });
    const sioMessages = metrics.messages.labels('socket.io');
    const sioBytes = metrics.bytes.labels('socket.io');
    const sioConnections = metrics.connections.labels('socket.io');
    io.of(ECHO_PATH).on('connection', (socket) => {
      sioConnections.inc();
      socket.on('echo', (data: unknown, ack: unknown) => {
        if (typeof ack !== 'function') return;
        ack(data);
        sioMessages.inc();
        sioBytes.inc(byteLength(data));
      });
      socket.once('disconnect', () => sioConnections.dec());
    });
  }

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname === ECHO_PATH && !draining) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      return;
    }
    if (io && pathname.startsWith(`${SOCKET_IO_PATH}/`) && !draining) return;
    socket.end(
      `HTTP/1.1 ${draining ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`,
    );
  });

  return {
    app,
    metrics,
    async listen() {
      await app.listen({ port: options.port ?? 8090, host: options.host ?? '0.0.0.0' });
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : 0;
    },
    async close() {
      draining = true;
      for (const client of wss.clients) client.close(1001, 'server shutting down');
      io?.disconnectSockets(true);
      const deadline = Date.now() + (options.drainTimeoutMs ?? 5000);
      while (wss.clients.size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const client of wss.clients) client.terminate();
      io?.engine.close();
      wss.close();
      await app.close();
    },
  };
}

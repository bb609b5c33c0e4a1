import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import { originAllowed, type Authenticator } from './auth.js';
import type { Ack, ClientCommands, CommandName } from './client-commands.js';
import type { Connection, LocalConnections } from './connections.js';
import type { BroadcastMetrics } from './metrics.js';

/** Largest frame a client may send (and Socket.IO's maxHttpBufferSize). */
export const MAX_FRAME_BYTES = 16 * 1024;

export interface WsGatewayOptions {
  readonly server: HttpServer;
  readonly authenticate: Authenticator;
  readonly commands: ClientCommands;
  readonly local: LocalConnections;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
  readonly allowedOrigins: readonly string[];
  readonly maxBufferedBytes: number;
  readonly isDraining: () => boolean;
}

/**
 * Seed 003's frames, translated to the Socket.IO client events. Field names follow the seed
 * (`room`, `message`); `clientMsgId` is optional here so that a person typing in wscat can chat.
 */
const frameToCommand: Record<
  string,
  { command: CommandName; payload: (f: Record<string, unknown>) => unknown }
> = {
  watch: { command: 'item:watch', payload: (f) => ({ itemId: f.itemId, afterSeq: f.afterSeq }) },
  unwatch: { command: 'item:unwatch', payload: (f) => ({ itemId: f.itemId }) },
  join: { command: 'room:join', payload: (f) => ({ roomId: f.room, afterCursor: f.after }) },
  leave: { command: 'room:leave', payload: (f) => ({ roomId: f.room }) },
  chat: {
    command: 'chat:send',
    payload: (f) => ({ roomId: f.room, text: f.message, clientMsgId: f.clientMsgId ?? randomUUID() }),
  },
  private: {
    command: 'dm:send',
    payload: (f) => ({ to: f.to, text: f.message, clientMsgId: f.clientMsgId ?? randomUUID() }),
  },
  rooms: { command: 'rooms:list', payload: () => undefined },
  presence: { command: 'presence:get', payload: (f) => ({ roomId: f.room }) },
};

/** Plain WebSocket clients on /ws?token=... (or ?userId=... in open mode). */
export function attachWsGateway(options: WsGatewayOptions): WebSocketServer {
  const { commands, local, metrics, logger } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  options.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/socket.io/')) return; // engine.io's own upgrade handler
    if (url.pathname !== '/ws') return refuse(socket, 404, 'Not Found');
    if (options.isDraining()) return refuse(socket, 503, 'Service Unavailable');
    if (!originAllowed(options.allowedOrigins, req.headers.origin)) return refuse(socket, 403, 'Forbidden');
    options
      .authenticate({
        token: url.searchParams.get('token') ?? undefined,
        userId: url.searchParams.get('userId') ?? undefined,
      })
      .then((result) => {
        if (!result.ok) return refuse(socket, 401, 'Unauthorized');
        wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, result.userId));
      })
      .catch(() => refuse(socket, 401, 'Unauthorized'));
  });

  function onConnection(ws: WebSocket, userId: string): void {
    const conn: Connection = {
      id: `ws-${randomUUID()}`,
      userId,
      transport: 'ws',
      rooms: new Set(),
      items: new Set(),
      send: (event, payload) => {
        if (ws.readyState !== ws.OPEN) return;
        // A client that cannot keep up is cut off rather than silently skipped: it reconnects and
        // resumes with afterSeq, so it still misses nothing.
        if (ws.bufferedAmount > options.maxBufferedBytes) {
          metrics.drops.inc({ reason: 'slow_consumer' });
          ws.close(1013, 'slow consumer');
          return;
        }
        ws.send(JSON.stringify({ type: event, ...(payload as object) }));
      },
      close: (reason) => ws.close(1001, reason.slice(0, 100)),
    };
    local.add(conn);
    const reply = (frame: Record<string, unknown>) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
    };
    reply({ type: 'welcome', userId });

    ws.on('message', (data: RawData, isBinary: boolean) => {
      const frame = parseFrame(data, isBinary);
      if (!frame.ok) {
        metrics.rejected.inc({ code: frame.error });
        return reply({ type: 'error', code: frame.error, message: frame.message });
      }
      const { type, reqId } = frame.value;
      const echo = typeof reqId === 'string' || typeof reqId === 'number' ? { reqId } : {};
      const route =
        typeof type === 'string' && Object.hasOwn(frameToCommand, type) ? frameToCommand[type] : undefined;
      const pending: Promise<Ack> = route
        ? commands.handle(conn, route.command, route.payload(frame.value))
        : commands.handle(conn, typeof type === 'string' ? type : 'missing type', frame.value);
      void pending.then((ack) => {
        if (ack.ok) {
          const { ok: _ok, ...rest } = ack;
          if (type === 'rooms') return reply({ type: 'rooms', ...echo, rooms: rest.rooms });
          return reply({ type: 'ack', for: type, ...echo, ...rest });
        }
        reply({
          type: 'error',
          for: typeof type === 'string' ? type : null,
          ...echo,
          code: ack.error,
          message: ack.message,
        });
      });
    });
    ws.on('error', (err) => logger.debug({ err }, 'ws client error'));
    ws.on('close', () => void commands.disconnected(conn));
  }

  return wss;
}

type Parsed =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; error: 'invalid_frame' | 'not_json'; message: string };

function parseFrame(data: RawData, isBinary: boolean): Parsed {
  if (isBinary) return { ok: false, error: 'invalid_frame', message: 'send JSON text frames' };
  let value: unknown;
  try {
    value = JSON.parse(
      Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'),
    );
  } catch {
    return { ok: false, error: 'not_json', message: 'frame is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: 'invalid_frame', message: 'frame must be a JSON object with a "type"' };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import { MAX_FRAME_BYTES, describeProblem, wsQuerySchema, type ErrorCode } from '@gavel/shared';
import { originAllowed, type Authenticator } from './auth.js';
import type { Ack, ClientCommands } from './client-commands.js';
import { clientAddress, type ConnectionLimits } from './connection-limits.js';
import { Frame, wsTextFrame, type Connection } from './connection.js';
import type { BroadcastMetrics } from './metrics.js';
import { BurstWriter, joined, writeFrames } from './socket-writer.js';

export interface WsGatewayOptions {
  readonly server: HttpServer;
  readonly authenticate: Authenticator;
  readonly limits: ConnectionLimits;
  /** Read the client address from X-Forwarded-For (behind the ALB). */
  readonly trustProxy: boolean;
  readonly commands: ClientCommands;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
  readonly allowedOrigins: readonly string[];
  readonly maxBufferedBytes: number;
  /** Pings every this often; no pong by the next one, the client is cut. */
  readonly pingIntervalMs: number;
  readonly isDraining: () => boolean;
  readonly replicaId: string;
  readonly color: string | undefined;
}

interface Identity {
  readonly userId: string;
  /** The token's end (none in open mode without a token). */
  readonly expiresAtMs: number | undefined;
  readonly username: string | undefined;
  readonly deviceId: string;
  readonly dmAfterCursor: number | undefined;
  readonly roomId: string | undefined;
}

/**
 * Plain WebSocket clients on /ws, as seed 003's client uses it:
 * `/ws?token=…&roomId=R&userId=…&username=…` (open mode: `?userId=` alone). `roomId` is joined at
 * connect; `userId`, when given with a token, must be the token's subject.
 */
export function attachWsGateway(options: WsGatewayOptions): WebSocketServer {
  const { commands, metrics, logger } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  // A client that stops reading (or whose network died) answers no ping: cut at the next round.
  const answeredPing = new WeakMap<WebSocket, boolean>();
  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (answeredPing.get(ws) === false) {
        metrics.drops.inc({ reason: 'ping_timeout' });
        ws.terminate();
        continue;
      }
      answeredPing.set(ws, false);
      ws.ping();
    }
  }, options.pingIntervalMs);
  heartbeat.unref();
  wss.on('close', () => clearInterval(heartbeat));

  options.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname.startsWith('/socket.io/')) return; // engine.io's own upgrade handler
    if (url.pathname !== '/ws') return refuse(socket, 404, 'Not Found');
    if (options.isDraining()) return refuse(socket, 503, 'Service Unavailable');
    if (!originAllowed(options.allowedOrigins, req.headers.origin)) return refuse(socket, 403, 'Forbidden');
    const query = wsQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return refuse(socket, 400, 'Bad Request', describeProblem(query.error));
    const { token, userId, username, roomId, deviceId, dmAfterCursor } = query.data;
    options
      .authenticate({ token, userId })
      .then(async (result) => {
        if (!result.ok) return refuse(socket, 401, 'Unauthorized');
        if (userId !== undefined && userId !== result.userId) {
          return refuse(socket, 403, 'Forbidden', '"userId" is not the subject of the token');
        }
        const admission = await options.limits.admit(result.userId, clientAddress(req, options.trustProxy));
        if (!admission.ok) {
          const which = admission.reason === 'user' ? 'this user' : 'this address';
          return refuse(socket, 429, 'Too Many Requests', `too_many_connections: ${which} has too many open`);
        }
        // The socket's end, however it comes (upgrade failed, closed, terminated), gives the slot back.
        if (socket.destroyed) return admission.release();
        socket.once('close', admission.release);
        const identity: Identity = {
          userId: result.userId,
          expiresAtMs: result.expiresAtMs,
          username,
          deviceId: deviceId ?? 'default',
          dmAfterCursor,
          roomId,
        };
        wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, identity));
      })
      .catch(() => refuse(socket, 401, 'Unauthorized'));
  });

  function onConnection(ws: WebSocket, identity: Identity): void {
    answeredPing.set(ws, true);
    ws.on('pong', () => answeredPing.set(ws, true));
    const writer = new WsWriter(ws, options.maxBufferedBytes, metrics);
    const conn: Connection = {
      id: `ws-${randomUUID()}`,
      userId: identity.userId,
      username: identity.username,
      deviceId: identity.deviceId,
      transport: 'ws',
      send: (frame: Frame) => writer.enqueue(frame),
      close: (reason) => {
        writer.flush();
        ws.close(1001, reason.slice(0, 100));
      },
      drop: () => ws.terminate(),
      expire: () => {
        reply({
          type: 'error',
          code: 'token_expired',
          message: 'your token expired: sign in again and reconnect',
        });
        writer.flush();
        ws.close(4001, 'token expired');
      },
      // Seed 003's field name, as the other frames of /ws's own (welcome, rooms).
      removed: (roomId) => reply({ type: 'room_removed', room: roomId }),
      bufferedBytes: () => ws.bufferedAmount,
    };
    // Answers share the connection's queue, so they keep their place among its events.
    const reply = (frame: Record<string, unknown>) => writer.enqueue(JSON.stringify(frame));
    reply({
      type: 'welcome',
      userId: identity.userId,
      ...(identity.username === undefined ? {} : { username: identity.username }),
      deviceId: identity.deviceId,
      replicaId: options.replicaId,
      color: options.color ?? null,
      recovered: false,
      ...(identity.roomId === undefined ? {} : { room: identity.roomId }),
    });
    const answer = (type: unknown, echo: Record<string, unknown>, ack: Ack) => {
      const forType = typeof type === 'string' ? type.slice(0, 64) : null;
      if (!ack.ok)
        return reply({ type: 'error', for: forType, ...echo, code: ack.code, message: ack.message });
      const { ok: _ok, ...rest } = ack;
      if (type === 'rooms') return reply({ type: 'rooms', ...echo, rooms: rest.rooms });
      reply({ type: 'ack', for: forType, ...echo, ...rest });
    };
    // Frames are answered in order, after the session's DM catch-up and the join at connect.
    let queue: Promise<unknown> = commands
      .connected(conn, identity.expiresAtMs, identity.dmAfterCursor)
      .catch((err: unknown) => {
        logger.warn({ err, userId: identity.userId }, 'session start failed');
      });
    if (identity.roomId !== undefined) {
      const room = identity.roomId;
      queue = queue
        .then(() => commands.handle(conn, 'join', { type: 'join', room }))
        .then((ack) => answer('join', {}, ack));
    }

    ws.on('message', (data: RawData, isBinary: boolean) => {
      const frame = parseFrame(data, isBinary);
      if (!frame.ok) {
        metrics.rejected.inc({ code: frame.code });
        return reply({ type: 'error', code: frame.code, message: frame.message });
      }
      const { type, reqId } = frame.value;
      // Only a reqId the protocol allows is echoed: a longer one is refused, not sent back.
      const echo =
        (typeof reqId === 'string' && reqId.length <= 128) || typeof reqId === 'number' ? { reqId } : {};
      queue = queue
        .then(() => commands.handle(conn, type, frame.value))
        .then((ack) => answer(type, echo, ack));
    });
    ws.on('error', (err) => logger.debug({ err }, 'ws client error'));
    ws.on('close', () => void queue.then(() => commands.disconnected(conn)));
  }

  return wss;
}

type Parsed =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; code: Extract<ErrorCode, 'invalid_frame' | 'not_json'>; message: string };

function parseFrame(data: RawData, isBinary: boolean): Parsed {
  if (isBinary) return { ok: false, code: 'invalid_frame', message: 'send JSON text frames' };
  let value: unknown;
  try {
    value = JSON.parse(
      Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'),
    );
  } catch {
    return { ok: false, code: 'not_json', message: 'frame is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'invalid_frame', message: 'frame must be a JSON object with a "type"' };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

/**
 * `/ws`'s side of the burst writer: events as their shared prebuilt frames, answers framed here,
 * one write per burst.
 */
class WsWriter extends BurstWriter<Frame | string> {
  constructor(
    private readonly ws: WebSocket,
    private readonly maxBufferedBytes: number,
    private readonly metrics: BroadcastMetrics,
  ) {
    super();
  }

  protected write(items: ReadonlyArray<Frame | string>): void {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN) return;
    // A client that cannot keep up is cut off rather than silently skipped: it reconnects and
    // resumes with afterSeq / after, so it still misses nothing. Cut, not closed: a closing
    // handshake would wait behind the very bytes it does not read.
    if (ws.bufferedAmount > this.maxBufferedBytes) {
      this.metrics.drops.inc({ reason: 'slow_consumer' });
      ws.terminate();
      return;
    }
    const bytes = items.map((item) => (typeof item === 'string' ? wsTextFrame(item) : item.wsFrame));
    if (writeFrames(ws, joined(bytes))) return;
    for (const item of items) ws.send(typeof item === 'string' ? item : item.ws);
  }
}

function refuse(socket: Duplex, status: number, text: string, body = ''): void {
  const length = Buffer.byteLength(body);
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${length}\r\n\r\n${body}`,
  );
}

import type { Server, Socket } from 'socket.io';
import type { Logger } from 'pino';
import {
  describeProblem,
  socketAuthSchema,
  type ClientToServerEvents,
  type ServerToClientEvents,
} from '@gavel/shared';
import type { Authenticator } from './auth.js';
import type { Ack, ClientCommands } from './client-commands.js';
import { clientAddress, type ConnectionLimits } from './connection-limits.js';
import { Frame, type Connection } from './connection.js';
import type { BroadcastMetrics } from './metrics.js';
import { BurstWriter, directWebSocket, joined, writeFrames } from './socket-writer.js';

export type GavelServer = Server<
  ClientToServerEvents,
  ServerToClientEvents,
  Record<string, never>,
  SocketData
>;
type GavelSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

interface SocketData {
  userId: string;
  username: string | undefined;
  deviceId: string;
  /** Where the client says its DM feed is (handshake `dmAfterCursor`). */
  dmAfterCursor: number | undefined;
  /** The handshake token's end (none in open mode without a token). */
  expiresAtMs: number | undefined;
}

/** What a slow-consumer check needs of engine.io's connection (not in its public types). */
interface EngineInternals {
  readonly writeBuffer?: ReadonlyArray<{ readonly data?: unknown }>;
  readonly transport?: { readonly socket?: { readonly bufferedAmount?: number; terminate?(): void } };
}

export interface SocketIoGatewayOptions {
  readonly io: GavelServer;
  readonly authenticate: Authenticator;
  readonly limits: ConnectionLimits;
  /** Read the client address from X-Forwarded-For (behind the ALB). */
  readonly trustProxy: boolean;
  readonly commands: ClientCommands;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
  readonly replicaId: string;
  readonly color: string | undefined;
}

/** Socket.IO clients: handshake auth, every client event through the commands, cleanup on disconnect. */
export function attachSocketIoGateway(options: SocketIoGatewayOptions): void {
  const { io, commands, logger } = options;

  io.use((socket, next) => {
    const auth = socketAuthSchema.safeParse(socket.handshake.auth ?? {});
    if (!auth.success) {
      // A token or user id of the wrong shape is no credential at all.
      const credential = ['token', 'userId'].includes(String(auth.error.issues[0]?.path[0]));
      return next(new Error(credential ? 'unauthorized' : `invalid_payload: ${describeProblem(auth.error)}`));
    }
    options
      .authenticate({ token: auth.data.token, userId: auth.data.userId })
      .then(async (result) => {
        if (!result.ok) return next(new Error('unauthorized'));
        const admission = await options.limits.admit(
          result.userId,
          clientAddress(socket.request, options.trustProxy),
        );
        if (!admission.ok) {
          const refusal = new Error('too_many_connections') as Error & { data?: unknown };
          refusal.data = { limit: admission.reason };
          return next(refusal);
        }
        // The engine.io connection's end, however it comes, gives the slot back.
        if (socket.conn.readyState === 'closed') return admission.release();
        socket.conn.once('close', admission.release);
        socket.data.userId = result.userId;
        socket.data.username = auth.data.username;
        socket.data.deviceId = auth.data.deviceId ?? 'default';
        socket.data.dmAfterCursor = auth.data.dmAfterCursor;
        socket.data.expiresAtMs = result.expiresAtMs;
        next();
      })
      .catch(() => next(new Error('unauthorized')));
  });

  io.on('connection', (socket: GavelSocket) => {
    // The handshake (built by now) has what we need of the first HTTP request; the request itself
    // (headers, parser state, the socket's buffers) would stay in memory for the connection's life.
    (socket.conn as { request: unknown }).request = null;
    const { userId, username, deviceId, dmAfterCursor, expiresAtMs } = socket.data;
    const writer = new SocketIoWriter(socket);
    const engine = socket.conn as unknown as EngineInternals;
    const conn: Connection = {
      id: socket.id,
      userId,
      username,
      deviceId,
      transport: 'socketio',
      send: (frame: Frame) => writer.enqueue(frame),
      close: () => {
        writer.flush();
        socket.conn.close();
      },
      drop: () => {
        writer.discard();
        const ws = engine.transport?.socket;
        if (typeof ws?.terminate === 'function') ws.terminate();
        else socket.conn.close();
      },
      expire: () => {
        conn.send(
          new Frame('session:expired', {
            code: 'token_expired',
            message: 'your token expired: sign in again and reconnect',
          }),
        );
        writer.flush();
        socket.disconnect(true);
      },
      removed: (roomId) => conn.send(new Frame('room:removed', { roomId })),
      bufferedBytes: () => {
        let bytes = engine.transport?.socket?.bufferedAmount ?? 0;
        for (const packet of engine.writeBuffer ?? []) {
          const data = packet.data;
          bytes += typeof data === 'string' ? data.length : Buffer.isBuffer(data) ? data.length : 0;
        }
        return bytes;
      },
    };
    conn.send(
      new Frame('session', {
        userId,
        ...(username === undefined ? {} : { username }),
        deviceId,
        replicaId: options.replicaId,
        color: options.color ?? null,
        recovered: false,
      }),
    );
    // Commands wait for the session (the DM catch-up) so that nothing overtakes it.
    const session = commands.connected(conn, expiresAtMs, dmAfterCursor).catch((err: unknown) => {
      logger.warn({ err, userId }, 'session start failed');
    });

    socket.onAny((event: unknown, ...args: unknown[]) => {
      const last = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as (a: Ack) => void) : undefined;
      const payload = ack ? (args.length > 1 ? args[0] : undefined) : args[0];
      void session
        .then(() => commands.handle(conn, event, payload))
        .then((answer) => {
          try {
            // Socket.IO writes the ack itself: what this connection was sent before goes first.
            writer.flush();
            ack?.(answer);
          } catch (err) {
            logger.warn({ err }, 'ack failed');
          }
        });
    });

    socket.on('disconnect', (reason) => {
      writer.discard();
      logger.debug({ userId, reason }, 'socket.io client left');
      void session.then(() => commands.disconnected(conn));
    });
  });
}

/**
 * Socket.IO's side of the burst writer. On the websocket transport the prebuilt frames go straight
 * to the socket, one write for the burst; otherwise (long-polling, mid-upgrade, engine.io still
 * holding packets) each packet goes through engine.io, pre-encoded, so its order and protocol are
 * engine.io's. Both are what `io.to(room).emit` would send, without its per-socket work.
 */
class SocketIoWriter extends BurstWriter<Frame> {
  private gone = false;

  constructor(private readonly socket: GavelSocket) {
    super();
  }

  /** The client left: anything still queued is dropped. */
  discard(): void {
    this.gone = true;
  }

  protected write(frames: readonly Frame[]): void {
    if (this.gone || !this.socket.connected) return;
    const engine = this.socket.conn;
    const ws = directWebSocket(engine);
    if (ws && writeFrames(ws, joined(frames.map((f) => f.socketIoFrame)))) return;
    for (const frame of frames) {
      engine.write(frame.socketIoPacket, { wsPreEncodedFrame: [frame.socketIoFrame] } as never);
    }
  }
}

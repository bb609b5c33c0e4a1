import type { Server, Socket } from 'socket.io';
import type { Logger } from 'pino';
import type { Authenticator } from './auth.js';
import type { ClientCommands } from './client-commands.js';
import { isCommand, type Ack } from './client-commands.js';
import type { Connection, LocalConnections } from './connections.js';
import type { BroadcastMetrics } from './metrics.js';
import { socketRoom, userRoom } from './room-bus.js';

export interface SocketIoGatewayOptions {
  readonly io: Server;
  readonly authenticate: Authenticator;
  readonly commands: ClientCommands;
  readonly local: LocalConnections;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
  readonly replicaId: string;
  readonly color: string | undefined;
}

/** Socket.IO clients: handshake auth, one handler per client event, cleanup on disconnect. */
export function attachSocketIoGateway(options: SocketIoGatewayOptions): void {
  const { io, commands, local, metrics, logger } = options;

  io.use((socket, next) => {
    const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    options
      .authenticate({ token: auth.token, userId: auth.userId })
      .then((result) => {
        if (!result.ok) return next(new Error('unauthorized'));
        // A recovered session must belong to the same user.
        if (socket.recovered && socket.data.userId !== result.userId) return next(new Error('unauthorized'));
        socket.data.userId = result.userId;
        next();
      })
      .catch(() => next(new Error('unauthorized')));
  });

  io.on('connection', (socket: Socket) => {
    const userId = socket.data.userId as string;
    const conn: Connection = {
      id: socket.id,
      userId,
      transport: 'socketio',
      rooms: new Set(),
      items: new Set(),
      // Not socket.emit: with connection-state recovery on, socket.emit goes through the adapter
      // (an XADD to Redis per packet, delivered after the round trip, so out of order with local
      // sends). Bids resume by afterSeq, so a local, synchronous send is what we want.
      send: (event, payload) => void io.local.to(socket.id).emit(event, payload),
      close: () => socket.conn.close(),
      group: (name, member) => void (member ? socket.join(name) : socket.leave(name)),
    };
    local.add(conn);
    void socket.join(userRoom(userId));

    const attempted = typeof (socket.handshake.auth as Record<string, unknown> | undefined)?.pid === 'string';
    if (socket.recovered) {
      metrics.recoveries.inc({ result: 'success' });
      // The adapter restored the Socket.IO rooms and replayed missed chat/DM/presence; bring our
      // own records (presence, rooms:list) back in step.
      for (const room of socket.rooms) {
        // Item groups are not restored: the client re-watches with afterSeq (see README).
        if (room.startsWith('feed:')) void socket.leave(room);
        if (!room.startsWith('room:')) continue;
        const roomId = room.slice('room:'.length);
        commands
          .joinRoom(conn, roomId)
          .catch((err: unknown) => logger.warn({ err, roomId }, 'room restore failed'));
      }
    } else if (attempted) {
      metrics.recoveries.inc({ result: 'failure' });
    }
    // Sent through the adapter (not socket.emit) so the client holds a stream offset and can
    // recover its session on any replica even if it never receives a room event.
    io.to(socket.id).emit('session', {
      userId,
      replicaId: options.replicaId,
      color: options.color ?? null,
      recovered: socket.recovered,
    });

    socket.onAny((event: string, ...args: unknown[]) => {
      const last = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as (a: Ack) => void) : undefined;
      const payload = ack ? (args.length > 1 ? args[0] : undefined) : args[0];
      void commands.handle(conn, isCommand(event) ? event : String(event), payload).then((answer) => {
        try {
          ack?.(answer);
        } catch (err) {
          logger.warn({ err }, 'ack failed');
        }
      });
    });

    socket.on('disconnect', (reason) => {
      logger.debug({ userId, reason }, 'socket.io client left');
      void commands.disconnected(conn);
    });
  });
}

/** Keeps a Socket.IO socket's rooms in step with its chat rooms, for the adapter's fan-out. */
export function syncSocketRoom(io: Server, conn: Connection, roomId: string, joined: boolean): void {
  if (conn.transport !== 'socketio') return;
  const socket = io.of('/').sockets.get(conn.id);
  if (!socket) return;
  if (joined) void socket.join(socketRoom(roomId));
  else void socket.leave(socketRoom(roomId));
}

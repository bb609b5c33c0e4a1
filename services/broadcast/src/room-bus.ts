import type { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import type { Logger } from 'pino';
import type { Connection, LocalConnections } from './connections.js';
import type { BroadcastMetrics } from './metrics.js';

/** Who receives a room-scoped event: the members of a chat room, or every device of some users. */
export type Audience = { readonly room: string } | { readonly users: readonly string[] };

interface BusMessage {
  readonly audience: Audience;
  readonly event: string;
  readonly payload: unknown;
  readonly except?: string;
}

export const socketRoom = (roomId: string) => `room:${roomId}`;
export const userRoom = (userId: string) => `user:${userId}`;

interface RoomState {
  /** Chat with a cursor up to this one was replayed (or is older than the replay): never sent live. */
  floor: number;
  /** While a replay runs, the room's live events wait here so that they follow it. */
  held: Array<{ event: string; payload: unknown }> | undefined;
}

function cursorOf(payload: unknown): number | undefined {
  const cursor = (payload as { cursor?: unknown } | null)?.cursor;
  return typeof cursor === 'number' ? cursor : undefined;
}

/**
 * Delivers chat, DMs and presence to every replica, once. Socket.IO clients get them through the
 * Redis streams adapter (so a reconnecting client's session recovery replays what it missed);
 * plain-WebSocket clients, which the adapter does not know, through one Redis pub/sub channel
 * that every replica reads for its own ws connections.
 *
 * A room joined with a chat cursor (room:join afterCursor) is served from that channel too, for
 * either transport: its seam with the replay needs every live event of the room to pass here,
 * where it can be held back and filtered by cursor (the adapter writes to sockets directly).
 */
export class RoomBus {
  /** Rooms joined with a cursor, per connection (a /ws connection's other rooms need no state). */
  private readonly replayed = new WeakMap<Connection, Map<string, RoomState>>();

  constructor(
    private readonly io: Server,
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly channel: string,
    private readonly local: LocalConnections,
    private readonly metrics: BroadcastMetrics,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.sub.on('message', (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      try {
        this.deliverLocal(JSON.parse(raw) as BusMessage);
      } catch (err) {
        this.logger.warn({ err }, 'bad room bus message');
      }
    });
    await this.sub.subscribe(this.channel);
  }

  /** `except` is the sending connection, which gets its answer in the ack instead. */
  async emit(audience: Audience, event: string, payload: unknown, except?: string): Promise<void> {
    const targets = 'room' in audience ? [socketRoom(audience.room)] : audience.users.map(userRoom);
    let op = this.io.to(targets);
    if (except) op = op.except(except);
    op.emit(event, payload);
    const message: BusMessage = { audience, event, payload, ...(except ? { except } : {}) };
    await this.pub.publish(this.channel, JSON.stringify(message));
  }

  /**
   * Call before the connection joins `roomId` with a cursor: from now on the room's live events
   * reach it from this bus (Socket.IO: not through the adapter) and wait until `release`.
   */
  hold(conn: Connection, roomId: string): void {
    let rooms = this.replayed.get(conn);
    if (!rooms) this.replayed.set(conn, (rooms = new Map()));
    rooms.set(roomId, { floor: 0, held: [] });
  }

  /**
   * The replay up to `floor` has been sent: sends what was held, except chat the replay covered,
   * and goes live, still dropping any late live copy of a replayed message.
   */
  release(conn: Connection, roomId: string, floor: number): void {
    const state = this.replayed.get(conn)?.get(roomId);
    if (!state) return;
    const held = state.held ?? [];
    state.floor = floor;
    state.held = undefined;
    for (const { event, payload } of held) this.sendRoomEvent(conn, state, event, payload);
  }

  /** The connection left the room: back to the default path for a later join. */
  forget(conn: Connection, roomId: string): void {
    this.replayed.get(conn)?.delete(roomId);
  }

  /** Whether this bus, not the Socket.IO adapter, serves the connection's events of `roomId`. */
  serves(conn: Connection, roomId: string): boolean {
    return conn.transport === 'ws' || (this.replayed.get(conn)?.has(roomId) ?? false);
  }

  private deliverLocal(message: BusMessage): void {
    const { audience, event, payload } = message;
    if ('room' in audience) {
      for (const conn of this.local.inRoom(audience.room)) {
        if (conn.id === message.except || !this.serves(conn, audience.room)) continue;
        const state = this.replayed.get(conn)?.get(audience.room);
        if (state) this.sendRoomEvent(conn, state, event, payload);
        else this.send(conn, event, payload);
      }
      return;
    }
    const targets = new Set(audience.users.flatMap((u) => [...this.local.ofUser(u)]));
    for (const conn of targets) {
      if (conn.transport === 'ws' && conn.id !== message.except) this.send(conn, event, payload);
    }
  }

  private sendRoomEvent(conn: Connection, state: RoomState, event: string, payload: unknown): void {
    if (state.held) {
      state.held.push({ event, payload });
      return;
    }
    const cursor = event === 'chat' ? cursorOf(payload) : undefined;
    if (cursor !== undefined && cursor <= state.floor) {
      this.metrics.drops.inc({ reason: 'replayed_chat' });
      return;
    }
    this.send(conn, event, payload);
  }

  private send(conn: Connection, event: string, payload: unknown): void {
    conn.send(event, payload);
    this.metrics.eventsOut.inc({ event });
  }
}

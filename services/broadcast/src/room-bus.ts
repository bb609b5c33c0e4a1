import type { Redis } from 'ioredis';
import type { Server } from 'socket.io';
import type { Logger } from 'pino';
import type { LocalConnections } from './connections.js';
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

/**
 * Delivers chat, DMs and presence to every replica, once. Socket.IO clients get them through the
 * Redis streams adapter (so a reconnecting client's session recovery replays what it missed);
 * plain-WebSocket clients, which the adapter does not know, through one Redis pub/sub channel
 * that every replica reads for its own ws connections.
 */
export class RoomBus {
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
        this.deliverToWs(JSON.parse(raw) as BusMessage);
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

  private deliverToWs(message: BusMessage): void {
    const targets =
      'room' in message.audience
        ? this.local.inRoom(message.audience.room)
        : new Set(message.audience.users.flatMap((u) => [...this.local.ofUser(u)]));
    for (const conn of targets) {
      if (conn.transport !== 'ws' || conn.id === message.except) continue;
      conn.send(message.event, message.payload);
      this.metrics.eventsOut.inc({ event: message.event });
    }
  }
}

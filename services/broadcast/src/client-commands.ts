import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { JetStreamClient } from 'nats';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import {
  MAX_TEXT_LENGTH,
  encodeEvent,
  idSchema,
  makeEvent,
  subjectOf,
  subjects,
  type ChatMessage,
  type DirectMessage,
  type Topology,
} from '@gavel/shared';
import type { Logger } from 'pino';
import type { Connection, LocalConnections } from './connections.js';
import type { ItemFeeds } from './item-feeds.js';
import type { BroadcastMetrics } from './metrics.js';
import type { Presence } from './presence.js';
import type { RoomBus } from './room-bus.js';
import type { StreamReader } from './stream-reader.js';

/** Every answer to a client event. */
export type Ack = ({ ok: true } & Record<string, unknown>) | { ok: false; error: string; message: string };

const text = z
  .string()
  .min(1)
  .max(MAX_TEXT_LENGTH)
  .refine((t) => t.trim().length > 0, 'must not be blank');
const clientMsgId = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 _ . : -');

const CURSOR_RULE = 'a chat cursor is a non-negative safe integer (the `cursor` of a chat message)';
/** A chat cursor: the stream sequence of a chat event. */
const chatCursor = z
  .number({ error: CURSOR_RULE })
  .int({ error: CURSOR_RULE })
  .min(0, { error: CURSOR_RULE })
  .max(Number.MAX_SAFE_INTEGER, { error: CURSOR_RULE });

/** Most chat messages replayed by one room:join afterCursor (the newest ones; the ack says so). */
export const MAX_CHAT_REPLAY = 500;

/** Client event payloads; unknown fields are ignored, missing or mistyped ones refused. */
export const commandSchemas = {
  'item:watch': z.object({
    itemId: idSchema,
    afterSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  }),
  'item:unwatch': z.object({ itemId: idSchema }),
  'room:join': z.object({ roomId: idSchema, afterCursor: chatCursor.optional() }),
  'room:leave': z.object({ roomId: idSchema }),
  'chat:send': z.object({ roomId: idSchema, text, clientMsgId }),
  'dm:send': z.object({ to: idSchema, text, clientMsgId }),
  'rooms:list': z.object({}).optional(),
  'presence:get': z.object({ roomId: idSchema }),
} as const;

export type CommandName = keyof typeof commandSchemas;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(commandSchemas, name);
}

/** What a client receives as `chat`; `cursor` is the event's stream sequence (see room:join). */
export function chatView(e: ChatMessage, cursor: number) {
  return {
    id: e.id,
    roomId: e.roomId,
    userId: e.userId,
    text: e.text,
    clientMsgId: e.clientMsgId,
    at: e.at,
    cursor,
  };
}

export function dmView(e: DirectMessage) {
  return { id: e.id, from: e.from, to: e.to, text: e.text, clientMsgId: e.clientMsgId, at: e.at };
}

/** A retried send (same user, same clientMsgId) gets the same event id, which JetStream deduplicates. */
function messageId(kind: 'chat' | 'dm', userId: string, id: string): string {
  return `${kind}_${createHash('sha256').update(`${userId}\n${id}`).digest('base64url').slice(0, 32)}`;
}

export interface CommandDeps {
  readonly js: JetStreamClient;
  readonly topology: Topology;
  readonly reader: StreamReader;
  readonly feeds: ItemFeeds;
  readonly local: LocalConnections;
  readonly presence: Presence;
  readonly bus: RoomBus;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
  readonly maxRoomsPerConnection: number;
  readonly chatRatePerS: number;
  readonly eventRatePerS: number;
  /** Called when a connection joins or leaves a chat room (Socket.IO keeps its own rooms in step). */
  readonly onRoomChange?: (conn: Connection, roomId: string, joined: boolean) => void;
}

const fail = (error: string, message: string): Ack => ({ ok: false, error, message });

/**
 * What each client event does, the same for Socket.IO and plain WebSocket. Validates first and
 * changes nothing on a refusal; never throws.
 */
export class ClientCommands {
  private readonly eventLimiter: RateLimiterMemory;
  private readonly chatLimiter: RateLimiterMemory;
  /** Connections that have gone; an answer that arrives after that must not re-add state. */
  private readonly gone = new WeakSet<Connection>();

  constructor(private readonly deps: CommandDeps) {
    this.eventLimiter = new RateLimiterMemory({ points: deps.eventRatePerS, duration: 1 });
    this.chatLimiter = new RateLimiterMemory({ points: deps.chatRatePerS, duration: 1 });
  }

  async handle(conn: Connection, name: string, payload: unknown): Promise<Ack> {
    try {
      const ack = await this.dispatch(conn, name, payload);
      if (!ack.ok) this.deps.metrics.rejected.inc({ code: ack.error });
      return ack;
    } catch (err) {
      this.deps.logger.warn({ err, event: name }, 'client event failed');
      this.deps.metrics.rejected.inc({ code: 'unavailable' });
      return fail('unavailable', 'a dependency is unavailable, retry later');
    }
  }

  private async dispatch(conn: Connection, name: string, payload: unknown): Promise<Ack> {
    this.deps.metrics.eventsIn.inc({ source: 'client', type: isCommand(name) ? name : 'unknown' });
    if (!(await this.take(this.eventLimiter, conn)))
      return fail('rate_limited', 'too many events, slow down');
    if (!isCommand(name)) return fail('unknown_event', `unknown event "${name.slice(0, 64)}"`);
    const parsed = commandSchemas[name].safeParse(payload);
    if (!parsed.success) return fail('invalid_payload', z.prettifyError(parsed.error).slice(0, 500));
    const d = this.deps;
    switch (name) {
      case 'item:watch': {
        const { itemId, afterSeq = 0 } = commandSchemas[name].parse(payload);
        if (!conn.items.has(itemId) && this.full(conn)) return this.tooMany();
        conn.items.add(itemId);
        const lastSeq = await d.feeds.watch(conn, itemId, afterSeq).catch((err: unknown) => {
          conn.items.delete(itemId);
          throw err;
        });
        if (this.gone.has(conn)) d.feeds.unwatch(conn, itemId);
        return { ok: true, itemId, lastSeq };
      }
      case 'item:unwatch': {
        const { itemId } = commandSchemas[name].parse(payload);
        conn.items.delete(itemId);
        d.feeds.unwatch(conn, itemId);
        return { ok: true, itemId };
      }
      case 'room:join': {
        const { roomId, afterCursor } = commandSchemas[name].parse(payload);
        if (afterCursor !== undefined) return this.joinAfter(conn, roomId, afterCursor);
        if (conn.rooms.has(roomId)) return { ok: true, roomId };
        if (this.full(conn)) return this.tooMany();
        // Read before joining: every message after it reaches this connection live, so it is a
        // safe afterCursor for a later re-join even if the client never sees a message here.
        const cursor = await this.roomCursor(roomId);
        if (conn.rooms.has(roomId)) return { ok: true, roomId };
        if (this.full(conn)) return this.tooMany();
        await this.joinRoom(conn, roomId);
        return { ok: true, roomId, ...(cursor === undefined ? {} : { cursor }) };
      }
      case 'room:leave': {
        const { roomId } = commandSchemas[name].parse(payload);
        await this.leaveRoom(conn, roomId);
        return { ok: true, roomId };
      }
      case 'chat:send': {
        const msg = commandSchemas[name].parse(payload);
        if (!conn.rooms.has(msg.roomId)) return fail('not_in_room', `join room ${msg.roomId} first`);
        if (!(await this.take(this.chatLimiter, conn)))
          return fail('rate_limited', 'too many messages, slow down');
        const id = messageId('chat', conn.userId, msg.clientMsgId);
        const event = makeEvent('chat.message', { ...msg, userId: conn.userId }, { id });
        const stored = await this.publish(event);
        if (stored.type !== 'chat.message') return fail('conflict', 'clientMsgId already used');
        // A duplicate's ack carries the first copy's stream sequence, so a retry gets its cursor.
        const view = chatView(stored, stored.seq);
        if (!stored.duplicate) await d.bus.emit({ room: msg.roomId }, 'chat', view);
        return { ok: true, id: view.id, at: view.at, cursor: view.cursor };
      }
      case 'dm:send': {
        const msg = commandSchemas[name].parse(payload);
        if (!(await this.take(this.chatLimiter, conn)))
          return fail('rate_limited', 'too many messages, slow down');
        const id = messageId('dm', conn.userId, msg.clientMsgId);
        const event = makeEvent('dm.message', { from: conn.userId, ...msg }, { id });
        const stored = await this.publish(event);
        if (stored.type !== 'dm.message') return fail('conflict', 'clientMsgId already used');
        const view = dmView(stored);
        if (!stored.duplicate) await d.bus.emit({ users: [stored.to, stored.from] }, 'dm', view, conn.id);
        return { ok: true, id: view.id, at: view.at };
      }
      case 'rooms:list':
        return { ok: true, rooms: await d.presence.rooms() };
      case 'presence:get': {
        const { roomId } = commandSchemas[name].parse(payload);
        return { ok: true, roomId, users: await d.presence.members(roomId) };
      }
    }
  }

  /**
   * Publishes and waits for JetStream's ack, so the message is durable (archival stores it)
   * before anyone sees it. A duplicate answers with the first copy, as stored.
   */
  private async publish<E extends ChatMessage | DirectMessage>(
    event: E,
  ): Promise<(ChatMessage | DirectMessage) & { duplicate: boolean; seq: number }> {
    const ack = await this.deps.js.publish(subjectOf(event, this.deps.topology), encodeEvent(event), {
      msgID: event.id,
    });
    const { seq } = ack;
    if (!ack.duplicate) return { ...event, duplicate: false, seq };
    const first = await this.deps.reader.at(seq);
    if (first?.type === 'chat.message' || first?.type === 'dm.message')
      return { ...first, duplicate: true, seq };
    return { ...event, duplicate: true, seq };
  }

  /** The cursor of the room's newest stored chat message (0: none); undefined if NATS is down. */
  private async roomCursor(roomId: string): Promise<number | undefined> {
    const subject = subjects(this.deps.topology).chat(roomId);
    return this.deps.reader.last(subject).then(
      (last) => last?.seq ?? 0,
      (err: unknown) => {
        this.deps.logger.warn({ err, roomId }, 'room cursor unavailable');
        return undefined;
      },
    );
  }

  /**
   * room:join afterCursor: joins, then sends the room's stored chat after the cursor as ordinary
   * `chat` events, then goes live, all before the ack. The seam holds no gap and no duplicate:
   * the connection is registered (its live events held back by the bus) before the stream is
   * read, so a message is either stored by then (its cursor is at most the read's `last`, so it
   * is replayed) or published to the bus after the registration (so it arrives live, held until
   * the replay is out); live copies with a cursor up to `last` are dropped. The ack's `cursor` is
   * `last`: a safe afterCursor for the next re-join.
   */
  private async joinAfter(conn: Connection, roomId: string, afterCursor: number): Promise<Ack> {
    const d = this.deps;
    if (conn.rooms.has(roomId)) return { ok: true, roomId, replayed: 0, truncated: false };
    if (this.full(conn)) return this.tooMany();
    d.bus.hold(conn, roomId);
    try {
      await this.joinRoom(conn, roomId);
    } catch (err) {
      d.bus.forget(conn, roomId);
      throw err;
    }
    let replay: Awaited<ReturnType<StreamReader['readAfter']>>;
    try {
      replay = await d.reader.readAfter(subjects(d.topology).chat(roomId), afterCursor, MAX_CHAT_REPLAY);
    } catch (err) {
      // Nothing half-applied: the join is undone.
      await this.leaveRoom(conn, roomId).catch(() => undefined);
      d.bus.forget(conn, roomId);
      throw err;
    }
    let replayed = 0;
    for (const { event, seq } of replay.events) {
      if (event.type !== 'chat.message') continue;
      conn.send('chat', chatView(event, seq));
      replayed++;
    }
    if (replayed > 0) d.metrics.eventsOut.inc({ event: 'chat' }, replayed);
    // Everything up to `last` was stored before the read: replayed, or held by the client already
    // (a cursor beyond it is not trusted to hide later messages). After it, all arrives live.
    d.bus.release(conn, roomId, replay.last);
    return { ok: true, roomId, replayed, truncated: replay.truncated, cursor: replay.last };
  }

  async joinRoom(conn: Connection, roomId: string): Promise<void> {
    const d = this.deps;
    const firstHere = !d.local.userStillInRoom(conn.userId, roomId);
    d.local.join(conn, roomId);
    d.onRoomChange?.(conn, roomId, true);
    if (!firstHere) return;
    try {
      if (await d.presence.join(roomId, conn.userId)) {
        await d.bus.emit({ room: roomId }, 'presence', { roomId, userId: conn.userId, state: 'join' });
      }
    } catch (err) {
      d.local.leave(conn, roomId);
      d.onRoomChange?.(conn, roomId, false);
      throw err;
    }
  }

  async leaveRoom(conn: Connection, roomId: string): Promise<void> {
    const d = this.deps;
    if (!d.local.leave(conn, roomId)) return;
    d.bus.forget(conn, roomId);
    d.onRoomChange?.(conn, roomId, false);
    if (d.local.userStillInRoom(conn.userId, roomId)) return;
    if (await d.presence.leave(roomId, conn.userId)) {
      await d.bus.emit({ room: roomId }, 'presence', { roomId, userId: conn.userId, state: 'leave' });
    }
  }

  /** Forgets a connection that closed: its watches, its rooms (announcing leaves). */
  async disconnected(conn: Connection): Promise<void> {
    this.gone.add(conn);
    for (const itemId of conn.items) this.deps.feeds.unwatch(conn, itemId);
    conn.items.clear();
    for (const roomId of [...conn.rooms]) {
      await this.leaveRoom(conn, roomId).catch((err: unknown) =>
        this.deps.logger.warn({ err, roomId }, 'presence leave failed; the sweeper will heal it'),
      );
    }
    this.deps.local.remove(conn);
    await Promise.all([this.eventLimiter.delete(conn.id), this.chatLimiter.delete(conn.id)]).catch(
      () => undefined,
    );
  }

  private full(conn: Connection): boolean {
    return conn.rooms.size + conn.items.size >= this.deps.maxRoomsPerConnection;
  }

  private tooMany(): Ack {
    return fail(
      'too_many_rooms',
      `at most ${this.deps.maxRoomsPerConnection} rooms and items per connection`,
    );
  }

  private async take(limiter: RateLimiterMemory, conn: Connection): Promise<boolean> {
    try {
      await limiter.consume(conn.id);
      return true;
    } catch {
      return false;
    }
  }
}

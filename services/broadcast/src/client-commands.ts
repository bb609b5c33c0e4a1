import { createHash, randomUUID } from 'node:crypto';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import {
  NOTIFY_PREVIEW_LENGTH,
  clientCommands,
  describeProblem,
  isCommandName,
  isWsFrameType,
  makeEvent,
  maySeeRoom,
  wsFrames,
  type AckError,
  type CommandName,
  type CommandPayload,
  type CommandResult,
  type DirectMessage,
  type ErrorCode,
  type GavelEvent,
  type RoomAccessEvent,
  type Topology,
} from '@gavel/shared';
import type { Logger } from 'pino';
import type { Connection } from './connection.js';
import type { ConnectionLimits } from './connection-limits.js';
import type { DmLedger } from './dm-ledger.js';
import type { Interests } from './interests.js';
import type { BroadcastMetrics } from './metrics.js';
import type { Presence } from './presence.js';
import type { RoomAccess } from './room-access.js';
import type { SessionLifetimes } from './session-lifetimes.js';
import type { StreamWriter } from './stream-writer.js';

/** Every answer to a client event. */
export type Ack = ({ ok: true } & Record<string, unknown>) | AckError;

const fail = (code: ErrorCode, message: string): AckError => ({ ok: false, error: code, code, message });

/** A command after validation, whichever transport and field names it came in with. */
type Validated = { [K in CommandName]: { ok: true; name: K; payload: CommandPayload<K> } }[CommandName];

/**
 * Validates a client event by the protocol's declarations: Socket.IO events by command name and
 * field names, `/ws` frames by frame type and seed 003's field names. Refusals name the field as
 * the client spelled it.
 */
export function validate(
  transport: Connection['transport'],
  name: unknown,
  payload: unknown,
): Validated | AckError {
  if (transport === 'ws') {
    if (!isWsFrameType(name)) return fail('unknown_event', `unknown frame type ${describeName(name)}`);
    const spec = wsFrames[name];
    const parsed = spec.frame.safeParse(payload);
    if (!parsed.success) return fail('invalid_payload', describeProblem(parsed.error));
    const toPayload = spec.toPayload as (f: unknown) => unknown;
    return { ok: true, name: spec.command, payload: toPayload(parsed.data) } as Validated;
  }
  if (!isCommandName(name)) return fail('unknown_event', `unknown event ${describeName(name)}`);
  const parsed = clientCommands[name].payload.safeParse(payload);
  if (!parsed.success) return fail('invalid_payload', describeProblem(parsed.error));
  return { ok: true, name, payload: parsed.data } as Validated;
}

function describeName(name: unknown): string {
  if (typeof name !== 'string') return '(no "type")';
  return JSON.stringify(name.slice(0, 64));
}

/** The name a field has on the connection's transport (seed 003's on /ws). */
function field(conn: Connection, name: 'roomId'): string {
  return conn.transport === 'ws' ? { roomId: 'room' }[name] : name;
}

/** A retried send (same user, same clientMsgId) gets the same event id, which JetStream deduplicates. */
function messageId(kind: 'chat' | 'dm', userId: string, clientMsgId: string): string {
  return `${kind}_${createHash('sha256').update(`${userId}\n${clientMsgId}`).digest('base64url').slice(0, 32)}`;
}

export interface CommandDeps {
  readonly interests: Interests;
  readonly writer: StreamWriter;
  readonly presence: Presence;
  readonly access: RoomAccess;
  readonly lifetimes: SessionLifetimes;
  readonly ledger: DmLedger;
  readonly limits: Pick<ConnectionLimits, 'isOnline'>;
  readonly topology: Topology;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
  readonly maxRoomsPerConnection: number;
  readonly chatRatePerS: number;
  readonly eventRatePerS: number;
}

/** How long a sending connection is remembered, to keep its own DM copy from it. */
const SENT_BY_MS = 60_000;

/**
 * What each client event does, the same for Socket.IO and plain WebSocket. Validates first and
 * changes nothing on a refusal; never throws.
 */
export class ClientCommands {
  private readonly eventLimiter: RateLimiterMemory;
  private readonly chatLimiter: RateLimiterMemory;
  /** DM id → the connection that sent it: that connection has the ack, not the copy. */
  private readonly sentBy = new Map<string, string>();

  constructor(private readonly deps: CommandDeps) {
    this.eventLimiter = new RateLimiterMemory({ points: deps.eventRatePerS, duration: 1 });
    this.chatLimiter = new RateLimiterMemory({ points: deps.chatRatePerS, duration: 1 });
  }

  /** A client event as it arrived (validated here, by its transport's declarations). */
  async handle(conn: Connection, name: unknown, payload: unknown): Promise<Ack> {
    const d = this.deps;
    try {
      const type = isCommandName(name) ? name : isWsFrameType(name) ? wsFrames[name].command : 'other';
      d.metrics.eventsIn.inc({ source: 'client', type });
      if (!(await this.take(this.eventLimiter, conn)))
        return this.refuse(fail('rate_limited', 'too many events, slow down'));
      const command = validate(conn.transport, name, payload);
      if (!command.ok) return this.refuse(command);
      const ack = await this.execute(conn, command);
      if (!ack.ok) this.refuse(ack);
      return ack;
    } catch (err) {
      d.logger.warn({ err, event: name }, 'client event failed');
      return this.refuse(fail('unavailable', 'a dependency is unavailable, retry later'));
    }
  }

  private refuse(ack: AckError): AckError {
    this.deps.metrics.rejected.inc({ code: ack.code });
    return ack;
  }

  private async execute(conn: Connection, command: Validated): Promise<Ack> {
    const d = this.deps;
    const ok = <K extends CommandName>(_name: K, result: CommandResult<K>): Ack => ({ ok: true, ...result });
    switch (command.name) {
      case 'item:watch': {
        const { itemId, afterSeq = 0 } = command.payload;
        if (!d.interests.watches(conn, itemId) && this.full(conn)) return this.tooMany();
        const lastSeq = await d.interests.watch(conn, itemId, afterSeq);
        return ok('item:watch', { itemId, lastSeq });
      }
      case 'item:unwatch': {
        d.interests.unwatch(conn, command.payload.itemId);
        return ok('item:unwatch', { itemId: command.payload.itemId });
      }
      case 'room:join': {
        const { roomId, afterCursor } = command.payload;
        const version = d.access.version;
        if (!(await d.access.allows(conn.userId, roomId))) return this.forbidden(roomId);
        if (d.interests.inRoom(conn, roomId)) {
          return ok('room:join', {
            roomId,
            ...(afterCursor === undefined ? {} : { replayed: 0, truncated: false }),
          });
        }
        if (this.full(conn)) return this.tooMany();
        const joined = await this.joinRoom(conn, roomId, afterCursor);
        // A room's members changed while this join was under way (its event may have found the
        // connection not yet in the room): decide again, on the record as it is now.
        const allowed = d.access.version === version || (await d.access.allows(conn.userId, roomId));
        if (!allowed || !d.interests.inRoom(conn, roomId)) {
          // Refused now, or taken out (or left) while joining: the presence the join recorded goes too.
          d.interests.leave(conn, roomId);
          await this.leftRoom(conn.userId, roomId);
          if (!allowed) return this.forbidden(roomId);
        }
        if (afterCursor === undefined) return ok('room:join', { roomId, cursor: joined.cursor });
        return ok('room:join', { roomId, ...joined });
      }
      case 'room:leave': {
        await this.leaveRoom(conn, command.payload.roomId);
        return ok('room:leave', { roomId: command.payload.roomId });
      }
      case 'chat:send':
        return this.sendChat(conn, command.payload);
      case 'dm:send':
        return this.sendDm(conn, command.payload);
      case 'dm:read': {
        const { id } = command.payload;
        const read = await d.ledger.markRead(id, conn.userId);
        if (!read) return fail('not_found', `no direct message ${id} to you`);
        if (read.fresh) {
          await d.writer.publish(
            makeEvent(
              'dm.read',
              { dmId: id, from: read.from, to: conn.userId },
              { id: `${id}.read`, at: new Date(read.at) },
            ),
          );
        }
        return ok('dm:read', { id, at: read.at });
      }
      case 'rooms:list': {
        // A private room is listed to its members only.
        const rooms = await d.presence.rooms();
        const visible = await Promise.all(rooms.map((r) => d.access.allows(conn.userId, r.roomId)));
        return ok('rooms:list', { rooms: rooms.filter((_, i) => visible[i]) });
      }
      case 'presence:get': {
        const { roomId } = command.payload;
        if (!(await d.access.allows(conn.userId, roomId))) return this.forbidden(roomId);
        return ok('presence:get', { roomId, users: await d.presence.members(roomId) });
      }
      case 'auth:refresh':
        return d.lifetimes.refresh(conn, command.payload.token);
    }
  }

  private async sendChat(conn: Connection, msg: CommandPayload<'chat:send'>): Promise<Ack> {
    const d = this.deps;
    const roomId = msg.roomId ?? d.interests.currentRoom(conn);
    if (!roomId) {
      return fail('no_room', `join a room first, or name one with "${field(conn, 'roomId')}"`);
    }
    if (!(await d.access.allows(conn.userId, roomId))) return this.forbidden(roomId);
    if (!d.interests.inRoom(conn, roomId)) return fail('not_in_room', `join room ${roomId} first`);
    if (!(await this.take(this.chatLimiter, conn)))
      return fail('rate_limited', 'too many messages, slow down');
    const clientMsgId = msg.clientMsgId ?? randomUUID();
    const event = makeEvent(
      'chat.message',
      {
        roomId,
        userId: conn.userId,
        text: msg.text,
        clientMsgId,
        ...(conn.username === undefined ? {} : { username: conn.username }),
      },
      { id: messageId('chat', conn.userId, clientMsgId) },
    );
    // Members, the sender included, get it from the room's subscription once it is stored.
    const stored = await d.writer.publish(event);
    if (stored.event.type !== 'chat.message') return fail('conflict', 'clientMsgId already used');
    const first = stored.event;
    return { ok: true, id: first.id, roomId: first.roomId, at: first.at, cursor: stored.seq };
  }

  private async sendDm(conn: Connection, msg: CommandPayload<'dm:send'>): Promise<Ack> {
    const d = this.deps;
    if (!(await this.take(this.chatLimiter, conn)))
      return fail('rate_limited', 'too many messages, slow down');
    const clientMsgId = msg.clientMsgId ?? randomUUID();
    const id = messageId('dm', conn.userId, clientMsgId);
    const event = makeEvent(
      'dm.message',
      {
        from: conn.userId,
        to: msg.to,
        text: msg.text,
        clientMsgId,
        ...(conn.username === undefined ? {} : { username: conn.username }),
      },
      { id },
    );
    // Recorded first, so that the recipient can mark it read as soon as it arrives.
    await d.ledger.remember(event);
    const stored = await d.writer.publish(event);
    if (stored.event.type !== 'dm.message') return fail('conflict', 'clientMsgId already used');
    const dm = stored.event;
    if (dm.to !== dm.from) {
      // The sender's other devices get the message from the sender's own feed; this connection
      // has the ack instead. A retry publishes the copy again, which the stream deduplicates.
      this.rememberSender(dm.id, conn.id);
      const { type: _type, id: _id, v: _v, at, ...fields } = dm;
      await d.writer.publish(
        makeEvent('dm.sent', { ...fields, dmId: dm.id }, { id: `${dm.id}.sent`, at: new Date(at) }),
      );
    }
    if (!stored.duplicate) void this.notifyIfOffline(dm);
    return { ok: true, id: dm.id, at: dm.at };
  }

  private rememberSender(dmId: string, connId: string): void {
    this.sentBy.set(dmId, connId);
    setTimeout(() => this.sentBy.delete(dmId), SENT_BY_MS).unref();
  }

  /** Whether a connection skips an event of its user's DM feed: the copy of a DM it sent itself. */
  readonly skipDm = (conn: Connection, event: GavelEvent): boolean =>
    event.type === 'dm.sent' && this.sentBy.get(event.dmId) === conn.id;

  /**
   * A DM feed event went to a device: its position moves on, and a message's first arrival at
   * any device of its recipient is confirmed to the sender (`dm.delivered`, once per message).
   */
  readonly dmSent = (conn: Connection, event: GavelEvent, cursor: number): void => {
    const d = this.deps;
    d.ledger.advance(conn.userId, conn.deviceId, cursor);
    if (event.type !== 'dm.message' || event.to !== conn.userId) return;
    const at = new Date();
    void d.ledger
      .markDelivered(event.id, at.toISOString())
      .then(async (fresh) => {
        if (!fresh) return;
        await d.writer.publish(
          makeEvent(
            'dm.delivered',
            { dmId: event.id, from: event.from, to: event.to },
            { id: `${event.id}.delivered`, at },
          ),
        );
      })
      .catch((err: unknown) => d.logger.warn({ err, dmId: event.id }, 'delivery receipt failed'));
  };

  /**
   * Asks whether any replica holds a live connection of the recipient (the connection counts in
   * Redis). If not, `notify.dm` goes out: the hook a push provider consumes.
   */
  private async notifyIfOffline(dm: DirectMessage): Promise<void> {
    const d = this.deps;
    try {
      if (await d.limits.isOnline(dm.to)) return;
    } catch {
      // Redis could not say: treated as offline (a spare push beats a missed one).
    }
    try {
      await d.writer.publish(
        makeEvent(
          'notify.dm',
          { dmId: dm.id, from: dm.from, to: dm.to, preview: dm.text.slice(0, NOTIFY_PREVIEW_LENGTH) },
          { id: `${dm.id}.notify` },
        ),
      );
    } catch (err) {
      d.logger.warn({ err, dmId: dm.id }, 'offline notification failed');
    }
  }

  /**
   * Starts a connection's session: it ends when its token expires (`expiresAtMs`, unless
   * refreshed), and it catches up on its user's DMs: after the cursor the client says it has, or
   * else from the device's position kept here. That one is written a few milliseconds after each
   * send, so after a kill -9 of the replica it can be behind what the device got: a client that
   * remembers its cursor gets each DM exactly once even then.
   */
  async connected(conn: Connection, expiresAtMs: number | undefined, dmAfterCursor?: number): Promise<void> {
    const d = this.deps;
    d.lifetimes.start(conn, expiresAtMs);
    d.interests.add(conn);
    const position = dmAfterCursor ?? (await d.ledger.position(conn.userId, conn.deviceId));
    await d.interests.startSession(conn, position);
  }

  /** Joins a room; announces the user's arrival when no replica had them in it before. */
  async joinRoom(conn: Connection, roomId: string, afterCursor?: number) {
    const d = this.deps;
    const firstHere = !d.interests.userInRoom(conn.userId, roomId, conn);
    const joined = await d.interests.join(conn, roomId, afterCursor);
    if (!firstHere) return joined;
    let arrived: boolean;
    try {
      arrived = await d.presence.join(roomId, conn.userId);
    } catch (err) {
      // Nothing half-applied: the join is undone.
      d.interests.leave(conn, roomId);
      throw err;
    }
    if (arrived) await this.announce(roomId, conn.userId, 'join');
    return joined;
  }

  async leaveRoom(conn: Connection, roomId: string): Promise<void> {
    const d = this.deps;
    if (!d.interests.leave(conn, roomId)) return;
    if (d.interests.userInRoom(conn.userId, roomId)) return;
    if (await d.presence.leave(roomId, conn.userId)) await this.announce(roomId, conn.userId, 'leave');
  }

  /**
   * The api announced a change of who may see a room. The connections it names are taken out at
   * once, before any later event of the room can reach them (the event is all it takes); then
   * every local connection in the room is checked against the record as Redis has it now, which
   * also covers anything an event could not say.
   */
  readonly roomAccessChanged = (event: RoomAccessEvent): void => {
    const d = this.deps;
    const { roomId } = event;
    d.access.forget(roomId);
    const out =
      event.type === 'room.member_removed'
        ? (conn: Connection) => conn.userId === event.userId
        : event.type === 'room.created' && event.private
          ? (conn: Connection) => !event.members.includes(conn.userId)
          : undefined;
    if (out)
      for (const conn of d.interests.connectionsIn(roomId))
        if (out(conn)) void this.removeFromRoom(conn, roomId);
    void this.enforce(roomId);
  };

  /** Takes every local connection out of `roomId` whose user may not see it (any more). */
  async enforce(roomId: string): Promise<void> {
    const d = this.deps;
    if (d.interests.connectionsIn(roomId).length === 0) return;
    try {
      const record = await d.access.record(roomId);
      for (const conn of d.interests.connectionsIn(roomId)) {
        if (!maySeeRoom(record, conn.userId)) await this.removeFromRoom(conn, roomId);
      }
    } catch (err) {
      // Redis unreachable: the next recheck (or event) tries again.
      d.logger.warn({ err, roomId }, 'room access recheck failed');
    }
  }

  /**
   * Rechecks the rooms local connections are in: every one (`all`, after events may have been
   * missed), or those that were private when last read (the periodic recheck; a public room only
   * turns private by its creation, an event).
   */
  async recheckRooms(options: { all: boolean }): Promise<void> {
    const d = this.deps;
    if (options.all) d.access.forgetAll();
    for (const roomId of d.interests.joinedRooms()) {
      if (options.all || d.access.knownPrivate(roomId)) await this.enforce(roomId);
    }
  }

  /**
   * Takes a connection out of a room it may no longer see, and tells it (`room:removed`). The
   * leave is synchronous, so nothing of the room reaches it after this call; presence follows.
   */
  async removeFromRoom(conn: Connection, roomId: string): Promise<void> {
    if (!this.deps.interests.leave(conn, roomId)) return;
    conn.removed(roomId);
    await this.leftRoom(conn.userId, roomId);
  }

  /** A connection of `userId` left the room: if it was their last here, so does their presence. */
  private async leftRoom(userId: string, roomId: string): Promise<void> {
    const d = this.deps;
    if (d.interests.userInRoom(userId, roomId)) return;
    try {
      if (await d.presence.leave(roomId, userId)) await this.announce(roomId, userId, 'leave');
    } catch (err) {
      d.logger.warn({ err, roomId }, 'presence leave failed; the sweeper will heal it');
    }
  }

  /** A presence change is an event like any other: stored, then delivered to the room's members. */
  async announce(roomId: string, userId: string, state: 'join' | 'leave'): Promise<void> {
    try {
      await this.deps.writer.publish(makeEvent('presence.changed', { roomId, userId, state }));
    } catch (err) {
      this.deps.logger.warn({ err, roomId, userId, state }, 'presence change not announced');
    }
  }

  /** Forgets a connection that closed: its watches, its rooms (announcing leaves), its session. */
  async disconnected(conn: Connection): Promise<void> {
    const d = this.deps;
    d.lifetimes.end(conn);
    const rooms = d.interests.remove(conn);
    for (const roomId of rooms) {
      if (d.interests.userInRoom(conn.userId, roomId)) continue;
      await d.presence
        .leave(roomId, conn.userId)
        .then((left) => (left ? this.announce(roomId, conn.userId, 'leave') : undefined))
        .catch((err: unknown) =>
          d.logger.warn({ err, roomId }, 'presence leave failed; the sweeper will heal it'),
        );
    }
    await Promise.all([this.eventLimiter.delete(conn.id), this.chatLimiter.delete(conn.id)]).catch(
      () => undefined,
    );
  }

  private full(conn: Connection): boolean {
    return this.deps.interests.holdings(conn) >= this.deps.maxRoomsPerConnection;
  }

  /** A private room to a non-member: not joined, not shown, not written to. */
  private forbidden(roomId: string): AckError {
    return fail('forbidden', `room ${roomId} is private: only its members may join, see or chat in it`);
  }

  private tooMany(): AckError {
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

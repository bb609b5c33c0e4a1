import { subjects, type GavelEvent, type Topology } from '@gavel/shared';
import type { Logger } from 'pino';
import type { Connection } from './connection.js';
import { CursorFeed, type JoinResult } from './cursor-feed.js';
import { feedFrame } from './frames.js';
import { ItemFeed } from './item-feed.js';
import type { LiveSource } from './live-source.js';
import type { BroadcastMetrics } from './metrics.js';
import type { StreamReader } from './stream-reader.js';

export interface InterestsOptions {
  readonly source: LiveSource;
  readonly reader: StreamReader;
  readonly topology: Topology;
  readonly metrics: BroadcastMetrics;
  readonly logger: Logger;
  /** Bids kept in memory per watched item. */
  readonly historySize: number;
  /** Most chat messages one room:join afterCursor replays. */
  readonly chatReplayLimit: number;
  /** Most DM feed events one device catches up on at connect. */
  readonly dmReplayLimit: number;
  /** A subject nobody here wants any more stays subscribed this long, for a quick come-back. */
  readonly lingerMs: number;
  /** A DM feed event went to a device (positions, delivery receipts). */
  readonly onDmSent: (conn: Connection, event: GavelEvent, cursor: number) => void;
  /** Whether a device skips an event of its user's DM feed (its own sent copy). */
  readonly skipDm: (conn: Connection, event: GavelEvent) => boolean;
}

interface Room {
  readonly chat: CursorFeed;
  readonly presence: CursorFeed;
}

interface Session {
  readonly dms: CursorFeed;
}

interface Membership {
  readonly items: Set<string>;
  /** Rooms in join order: the last one is the current room. */
  readonly rooms: Set<string>;
  session: boolean;
}

/**
 * The one record of what this replica's connections watch, join and are: item watches, room
 * memberships, user sessions. It opens a subject's subscription on the first local interest and
 * closes it after a linger on the last, so that this replica receives only the events its own
 * clients want; every other event is never delivered to this process.
 */
export class Interests {
  private readonly items = new Map<string, ItemFeed>();
  private readonly rooms = new Map<string, Room>();
  private readonly sessions = new Map<string, Session>();
  private readonly members = new Map<Connection, Membership>();
  /** Room → the local connections in it, joins under way included (what access checks walk). */
  private readonly inRooms = new Map<string, Set<Connection>>();

  constructor(private readonly options: InterestsOptions) {}

  // ---- connections ------------------------------------------------------------------------------

  get connections(): IterableIterator<Connection> {
    return this.members.keys();
  }

  get connectionCount(): number {
    return this.members.size;
  }

  count(transport: Connection['transport']): number {
    let n = 0;
    for (const c of this.members.keys()) if (c.transport === transport) n++;
    return n;
  }

  add(conn: Connection): void {
    if (!this.members.has(conn))
      this.members.set(conn, { items: new Set(), rooms: new Set(), session: false });
  }

  has(conn: Connection): boolean {
    return this.members.has(conn);
  }

  /** Rooms plus watched items of a connection (the per-connection cap counts both). */
  holdings(conn: Connection): number {
    const m = this.members.get(conn);
    return m ? m.items.size + m.rooms.size : 0;
  }

  watches(conn: Connection, itemId: string): boolean {
    return this.members.get(conn)?.items.has(itemId) ?? false;
  }

  inRoom(conn: Connection, roomId: string): boolean {
    return this.members.get(conn)?.rooms.has(roomId) ?? false;
  }

  /** The room a connection joined last (chat without a room goes there). */
  currentRoom(conn: Connection): string | undefined {
    const rooms = this.members.get(conn)?.rooms;
    return rooms ? [...rooms].at(-1) : undefined;
  }

  /** The local connections in a room, or joining it now. */
  connectionsIn(roomId: string): Connection[] {
    return [...(this.inRooms.get(roomId) ?? [])];
  }

  /** Rooms with a local connection in them (or joining). */
  joinedRooms(): string[] {
    return [...this.inRooms.keys()];
  }

  /** Whether another local connection of `userId` is in the room. */
  userInRoom(userId: string, roomId: string, except?: Connection): boolean {
    const room = this.rooms.get(roomId);
    if (!room) return false;
    for (const c of room.chat.members.keys()) if (c !== except && c.userId === userId) return true;
    return false;
  }

  roomCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) if (room.chat.members.size > 0) n++;
    return n;
  }

  itemFeedCount(): number {
    return this.items.size;
  }

  /** Subjects this replica is subscribed to right now (a gauge: it follows local interest). */
  subscriptionCount(): number {
    return 2 * this.items.size + 2 * this.rooms.size + 2 * this.sessions.size;
  }

  /** Forgets a connection: its watches, rooms and session. Returns the rooms it was in. */
  remove(conn: Connection): string[] {
    const m = this.members.get(conn);
    if (!m) return [];
    for (const itemId of m.items) this.unwatch(conn, itemId);
    const rooms = [...m.rooms];
    for (const roomId of rooms) this.leave(conn, roomId);
    if (m.session) this.endSession(conn);
    this.members.delete(conn);
    return rooms;
  }

  // ---- items ------------------------------------------------------------------------------------

  /** Replays bids after `afterSeq`, then goes live; resolves with the highest seq it has. */
  async watch(conn: Connection, itemId: string, afterSeq: number): Promise<number> {
    const m = this.members.get(conn);
    if (!m) throw new Error('unknown connection');
    let feed = this.items.get(itemId);
    if (!feed) {
      feed = new ItemFeed(itemId, { ...this.options, source: this.options.source });
      this.items.set(itemId, feed);
      const created = feed;
      created.ready.catch(() => {
        if (this.items.get(itemId) === created) this.items.delete(itemId);
        created.dispose();
      });
    }
    clearTimeout(feed.lingerTimer);
    m.items.add(itemId);
    try {
      const lastSeq = await feed.watch(conn, afterSeq);
      // The connection went away (or unwatched) while the replay ran.
      if (!this.members.get(conn)?.items.has(itemId)) feed.unwatch(conn);
      return lastSeq;
    } catch (err) {
      m.items.delete(itemId);
      this.releaseItem(feed);
      throw err;
    }
  }

  unwatch(conn: Connection, itemId: string): void {
    this.members.get(conn)?.items.delete(itemId);
    const feed = this.items.get(itemId);
    if (!feed) return;
    feed.unwatch(conn);
    this.releaseItem(feed);
  }

  private releaseItem(feed: ItemFeed): void {
    if (feed.watchers.size > 0) return;
    this.linger(feed, () => {
      if (feed.watchers.size === 0 && this.items.get(feed.itemId) === feed) {
        feed.dispose();
        this.items.delete(feed.itemId);
      }
    });
  }

  // ---- rooms ------------------------------------------------------------------------------------

  private room(roomId: string): Room {
    let room = this.rooms.get(roomId);
    if (!room) {
      const s = subjects(this.options.topology);
      const common = { ...this.options, frameOf: feedFrame };
      room = {
        chat: new CursorFeed(`room:${roomId}`, {
          ...common,
          subject: s.chat(roomId),
          gapFill: true,
          replayLimit: this.options.chatReplayLimit,
        }),
        // Presence is live only: a missed change is not read back (presence:get tells the state).
        presence: new CursorFeed(`presence:${roomId}`, {
          ...common,
          subject: s.presence(roomId),
          gapFill: false,
          replayLimit: 0,
        }),
      };
      this.rooms.set(roomId, room);
      const created = room;
      Promise.all([room.chat.ready, room.presence.ready]).catch(() => {
        if (this.rooms.get(roomId) === created) this.rooms.delete(roomId);
        created.chat.close();
        created.presence.close();
      });
    }
    clearTimeout(room.chat.lingerTimer);
    return room;
  }

  /**
   * Joins a room (see CursorFeed.join for the replay seam). The membership counts from the call
   * on, so that a leave during the replay wins.
   */
  async join(conn: Connection, roomId: string, afterCursor?: number): Promise<JoinResult> {
    const m = this.members.get(conn);
    if (!m) throw new Error('unknown connection');
    const room = this.room(roomId);
    m.rooms.delete(roomId);
    m.rooms.add(roomId);
    let here = this.inRooms.get(roomId);
    if (!here) this.inRooms.set(roomId, (here = new Set()));
    here.add(conn);
    try {
      await room.presence.join(conn);
      const joined = await room.chat.join(conn, afterCursor);
      // Left (or gone) while the replay ran: the leave wins.
      if (!this.members.get(conn)?.rooms.has(roomId)) this.leave(conn, roomId);
      return joined;
    } catch (err) {
      this.leave(conn, roomId);
      throw err;
    }
  }

  /** Returns false when the connection was not in the room. */
  leave(conn: Connection, roomId: string): boolean {
    const was = this.members.get(conn)?.rooms.delete(roomId) ?? false;
    const here = this.inRooms.get(roomId);
    if (here?.delete(conn) && here.size === 0) this.inRooms.delete(roomId);
    const room = this.rooms.get(roomId);
    if (!room) return was;
    room.chat.leave(conn);
    room.presence.leave(conn);
    if (room.chat.members.size === 0) {
      this.linger(room.chat, () => {
        if (room.chat.members.size === 0 && this.rooms.get(roomId) === room) {
          room.chat.close();
          room.presence.close();
          this.rooms.delete(roomId);
        }
      });
    }
    return was;
  }

  // ---- user sessions ----------------------------------------------------------------------------

  /**
   * Starts a connection's session: its user's DM feed, caught up from `afterCursor` (the device's
   * position) before anything live. (Whether a user is online anywhere is the connection
   * counts' to say: connection-limits.ts.)
   */
  async startSession(conn: Connection, afterCursor: number): Promise<JoinResult> {
    const m = this.members.get(conn);
    if (!m) throw new Error('unknown connection');
    let session = this.sessions.get(conn.userId);
    if (!session) {
      const s = subjects(this.options.topology);
      const dms = new CursorFeed(`user:${conn.userId}`, {
        ...this.options,
        subject: s.dm(conn.userId),
        frameOf: feedFrame,
        gapFill: true,
        replayLimit: this.options.dmReplayLimit,
        onSent: this.options.onDmSent,
        skip: this.options.skipDm,
      });
      session = { dms };
      this.sessions.set(conn.userId, session);
      const created = session;
      const userId = conn.userId;
      dms.ready.catch(() => {
        if (this.sessions.get(userId) === created) this.sessions.delete(userId);
        created.dms.close();
      });
    }
    clearTimeout(session.dms.lingerTimer);
    m.session = true;
    try {
      const joined = await session.dms.join(conn, afterCursor);
      if (!this.members.get(conn)?.session) this.endSession(conn);
      return joined;
    } catch (err) {
      this.endSession(conn);
      throw err;
    }
  }

  private endSession(conn: Connection): void {
    const m = this.members.get(conn);
    if (m) m.session = false;
    const session = this.sessions.get(conn.userId);
    if (!session) return;
    session.dms.leave(conn);
    if (session.dms.members.size > 0) return;
    this.linger(session.dms, () => {
      if (session.dms.members.size === 0 && this.sessions.get(conn.userId) === session) {
        session.dms.close();
        this.sessions.delete(conn.userId);
      }
    });
  }

  private linger(feed: { lingerTimer: NodeJS.Timeout | undefined }, close: () => void): void {
    clearTimeout(feed.lingerTimer);
    feed.lingerTimer = setTimeout(close, this.options.lingerMs);
    feed.lingerTimer.unref();
  }

  /** After a NATS reconnect: every feed reads back what was stored while it could not hear. */
  catchUp(): void {
    for (const feed of this.items.values()) feed.catchUp();
    for (const room of this.rooms.values()) room.chat.catchUp();
    for (const session of this.sessions.values()) session.dms.catchUp();
  }

  close(): void {
    for (const feed of this.items.values()) feed.dispose();
    for (const room of this.rooms.values()) {
      room.chat.close();
      room.presence.close();
    }
    for (const session of this.sessions.values()) {
      session.dms.close();
    }
    this.items.clear();
    this.rooms.clear();
    this.inRooms.clear();
    this.sessions.clear();
  }
}

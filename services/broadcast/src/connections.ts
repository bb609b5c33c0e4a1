/**
 * A client connection, whatever its transport. Gateways (Socket.IO, plain WebSocket) wrap their
 * sockets in this shape so that feeds, rooms and presence treat both alike.
 */
export type Transport = 'socketio' | 'ws';

export interface Connection {
  readonly id: string;
  readonly userId: string;
  readonly transport: Transport;
  /** Chat rooms this connection joined. */
  readonly rooms: Set<string>;
  /** Items this connection watches. */
  readonly items: Set<string>;
  /** Sends one server event (`bid`, `chat`, ...) to this client only. */
  send(event: string, payload: unknown): void;
  /** Ends the connection (slow consumer, drain timeout). */
  close(reason: string): void;
  /**
   * Socket.IO only: puts the socket in or out of a local group, so that one packet encoded once
   * reaches every in-step watcher of an item (per-socket emits cost far more at fan-out).
   */
  group?(name: string, member: boolean): void;
}

/** The connections of this replica, indexed for local delivery. */
export class LocalConnections {
  readonly all = new Map<string, Connection>();
  private readonly byRoom = new Map<string, Set<Connection>>();
  private readonly byUser = new Map<string, Set<Connection>>();

  add(conn: Connection): void {
    this.all.set(conn.id, conn);
    addTo(this.byUser, conn.userId, conn);
  }

  remove(conn: Connection): void {
    this.all.delete(conn.id);
    removeFrom(this.byUser, conn.userId, conn);
    for (const room of conn.rooms) removeFrom(this.byRoom, room, conn);
  }

  /** Records a room membership; returns false when the connection was already in the room. */
  join(conn: Connection, roomId: string): boolean {
    if (conn.rooms.has(roomId)) return false;
    conn.rooms.add(roomId);
    addTo(this.byRoom, roomId, conn);
    return true;
  }

  leave(conn: Connection, roomId: string): boolean {
    if (!conn.rooms.delete(roomId)) return false;
    removeFrom(this.byRoom, roomId, conn);
    return true;
  }

  inRoom(roomId: string): ReadonlySet<Connection> {
    return this.byRoom.get(roomId) ?? EMPTY;
  }

  ofUser(userId: string): ReadonlySet<Connection> {
    return this.byUser.get(userId) ?? EMPTY;
  }

  /** Whether another local connection of the same user is still in the room. */
  userStillInRoom(userId: string, roomId: string): boolean {
    for (const c of this.inRoom(roomId)) if (c.userId === userId) return true;
    return false;
  }

  roomCount(): number {
    return this.byRoom.size;
  }

  count(transport: Transport): number {
    let n = 0;
    for (const c of this.all.values()) if (c.transport === transport) n++;
    return n;
  }
}

const EMPTY: ReadonlySet<Connection> = new Set();

function addTo(index: Map<string, Set<Connection>>, key: string, conn: Connection): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(conn);
}

function removeFrom(index: Map<string, Set<Connection>>, key: string, conn: Connection): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(conn);
  if (set.size === 0) index.delete(key);
}

import { maySeeRoom, readRoomRecord, roomKeys, type RedisConnection, type RoomRecord } from '@gavel/shared';

export interface RoomAccessOptions {
  readonly redis: RedisConnection;
  /** REDIS_PREFIX: the api writes the room records under it (keys from @gavel/shared). */
  readonly redisPrefix: string;
  readonly cluster: boolean;
  /** How long a room's record is trusted without hearing of a change (ROOM_ACCESS_RECHECK_S). */
  readonly ttlMs: number;
  /** Rooms remembered at most; the least recently used is forgotten first. */
  readonly maxRooms: number;
}

interface Entry {
  readonly record: RoomRecord | null;
  readonly at: number;
}

/**
 * Who may see which room, as the api's room records say (a room without one is public; a
 * private one is for its members). Records are remembered for a while, in a small LRU, so that
 * joins, chat and rooms:list cost no Redis read each; a change announced by the api
 * (`room.*` events) forgets the room at once, and the commands act on the event right away.
 */
export class RoomAccess {
  private readonly cache = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<RoomRecord | null>>();
  private changes = 0;

  constructor(private readonly options: RoomAccessOptions) {}

  /**
   * Grows with every forgotten room: a decision taken across an await is taken again if it moved
   * (some room changed meanwhile, maybe this one).
   */
  get version(): number {
    return this.changes;
  }

  async allows(userId: string, roomId: string): Promise<boolean> {
    return maySeeRoom(await this.record(roomId), userId);
  }

  /** Whether the room was private when last read (the periodic recheck looks at those). */
  knownPrivate(roomId: string): boolean {
    return this.cache.get(roomId)?.record?.private === true;
  }

  /** The room's record (null: never created, public), from memory while fresh. */
  record(roomId: string): Promise<RoomRecord | null> {
    const hit = this.cache.get(roomId);
    if (hit && Date.now() - hit.at < this.options.ttlMs) {
      // Most recently used last: Map keeps insertion order.
      this.cache.delete(roomId);
      this.cache.set(roomId, hit);
      return Promise.resolve(hit.record);
    }
    const pending = this.loading.get(roomId);
    if (pending) return pending;
    const { redis, redisPrefix, cluster } = this.options;
    const version = this.changes;
    const load = readRoomRecord(redis, roomKeys(redisPrefix, roomId, { cluster }), roomId)
      .then((record) => {
        // Read before a change that was announced meanwhile: answer, but do not remember it.
        if (this.changes === version) this.remember(roomId, record);
        return record;
      })
      .finally(() => {
        if (this.loading.get(roomId) === load) this.loading.delete(roomId);
      });
    this.loading.set(roomId, load);
    return load;
  }

  /** The room changed: the next decision reads its record again. */
  forget(roomId: string): void {
    this.cache.delete(roomId);
    this.loading.delete(roomId);
    this.changes++;
  }

  /** Everything may have changed (events may have been missed): read every room again. */
  forgetAll(): void {
    this.cache.clear();
    this.loading.clear();
    this.changes++;
  }

  private remember(roomId: string, record: RoomRecord | null): void {
    this.cache.delete(roomId);
    this.cache.set(roomId, { record, at: Date.now() });
    while (this.cache.size > this.options.maxRooms) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}

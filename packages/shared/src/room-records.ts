import type { RedisConnection } from './redis-connection.js';
import { partitionTagOf } from './redis-partitions.js';

/**
 * The records of created chat rooms, in Redis, as both services see them: the api writes them
 * (POST /api/v1/rooms and its member routes), broadcast reads them to decide who may join a room,
 * see its presence, chat in it or find it in rooms:list. One key layout, computed here by both.
 *
 * A room without a record is public (every room was, before rooms could be created); a record
 * marks a room private (members only) or, created with `private: false`, public with its id
 * reserved. In a Redis Cluster a room's keys carry the hash tag of its id's partition, the one
 * an item with the same id has (redis-partitions.ts): the room's record, its members, the item
 * of that id and the partition's outbox are in one slot, so the api creates a room, checks that
 * no item has its id and appends the event to the outbox in one script.
 */

/** Most members a private room may have (broadcast keeps a room's member list in memory). */
export const MAX_ROOM_MEMBERS = 1000;

export interface RoomKeys {
  /** Hash: `private` ("1" or "0"), `createdBy`, `createdAt` (epoch ms). */
  readonly record: string;
  /** Set of the member user ids of a private room. */
  readonly members: string;
}

/** The keys of a room's record under REDIS_PREFIX, single node or cluster (REDIS_CLUSTER). */
export function roomKeys(redisPrefix: string, roomId: string, options: { cluster?: boolean } = {}): RoomKeys {
  // Ids are [A-Za-z0-9_-] (no ':'): `room:<id>:members` cannot be another room's record.
  const base = options.cluster
    ? `${redisPrefix}${partitionTagOf(roomId)}:room:${roomId}`
    : `${redisPrefix}room:${roomId}`;
  return { record: base, members: `${base}:members` };
}

export interface RoomRecord {
  readonly id: string;
  readonly private: boolean;
  readonly createdBy: string;
  readonly createdAtMs: number;
  /** Empty for a public room. */
  readonly members: ReadonlySet<string>;
}

/** A room's record, or null when the room was never created (then it is public). */
export async function readRoomRecord(
  redis: RedisConnection,
  keys: RoomKeys,
  roomId: string,
): Promise<RoomRecord | null> {
  const [hash, members] = await Promise.all([redis.hgetall(keys.record), redis.smembers(keys.members)]);
  return parseRoomRecord(roomId, hash, members);
}

/** The record as its hash and member set hold it (null: no record). */
export function parseRoomRecord(
  roomId: string,
  hash: Record<string, string>,
  members: readonly string[],
): RoomRecord | null {
  if (hash.private === undefined) return null;
  const isPrivate = hash.private === '1';
  return {
    id: roomId,
    private: isPrivate,
    createdBy: hash.createdBy ?? '',
    createdAtMs: Number(hash.createdAt ?? 0),
    members: new Set(isPrivate ? members : []),
  };
}

/**
 * Whether a user may see a room: join it, read its history and presence, chat in it, find it
 * listed. Public rooms (no record, or a public one): anyone signed in. Private: members only
 * (`userId` null, a caller nobody vouched for, is no member).
 */
export function maySeeRoom(record: RoomRecord | null, userId: string | null): boolean {
  if (!record || !record.private) return true;
  return userId !== null && record.members.has(userId);
}

/** Where broadcast keeps its own Redis keys: under REDIS_PREFIX + "broadcast:". */
export function broadcastKeyPrefix(redisPrefix: string): string {
  return `${redisPrefix}broadcast:`;
}

/**
 * The presence hash of a room (`<userId>|<replicaId>` fields), which broadcast keeps
 * (services/broadcast/src/presence.ts); the api reads it to refuse making an occupied room
 * private. Every presence key shares the tag `{presence}` (its scripts read keys of one slot).
 */
export function presenceRoomKey(broadcastPrefix: string, roomId: string): string {
  return `${broadcastPrefix}{presence}:room:${roomId}`;
}

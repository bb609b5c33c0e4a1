import { CLUSTER_PARTITIONS, partitionIndex, partitionTags, roomKeys, type RoomKeys } from '@gavel/shared';

/**
 * Every Redis key of the api, under REDIS_PREFIX.
 *
 * A bid is one script (or one WATCH/MULTI transaction) over the item's hash, the open-items
 * index, the outbox stream, the Idempotency-Key answer and the rate-limit counter; in a Redis
 * Cluster such a script may only name keys of one hash slot. So the items are split into
 * **partitions**, and every key a bid on an item touches carries its partition's hash tag:
 * one item → one slot → one shard, and each partition has its own outbox stream and indexes,
 * which the relay and the closer walk one by one.
 *
 * An item's partition is the slot range its own id falls in, and its tag a short string that
 * hashes into that range (the layout is in @gavel/shared's redis-partitions.ts, which broadcast
 * shares for the room records). A room's record has the partition tag of its id too: a room and
 * the item of the same id live in one slot, with that partition's outbox.
 *
 * Single-node mode (the default) has one partition and keeps the names it always had.
 */

export { CLUSTER_PARTITIONS };

/** The keys shared by the items of one partition (all in one hash slot). */
export interface Partition {
  readonly index: number;
  /** ZSET of open items scored by endsAt (ms): the closer's work list and the open listing. */
  readonly openItems: string;
  /** ZSET of closed items scored by closedAt (ms). */
  readonly closedItems: string;
  /** Stream of events accepted by Redis and not yet acknowledged by JetStream. */
  readonly outbox: string;
  /** Placeholder key for a bid without Idempotency-Key (scripts must declare every key they use). */
  readonly noIdempotency: string;
}

export interface RedisKeys {
  readonly prefix: string;
  /** True when the keys are laid out for a Redis Cluster. */
  readonly cluster: boolean;
  /** Every partition: one in single-node mode. */
  readonly partitions: readonly Partition[];
  partitionOf(itemId: string): Partition;
  /** Hash: the item, its highest bid and its last seq. */
  item(itemId: string): string;
  /**
   * The stored answer of one Idempotency-Key. Single node: scoped per user (a key reused for
   * another item is refused). Cluster: scoped per user and item, since a lookup across items
   * would cross slots (a key reused for another item is another request there).
   */
  idempotency(itemId: string, userId: string, key: string): string;
  /**
   * Counter of bids in the current one-second window. Single node: per user. Cluster: per user
   * and item, so that it lives on the item's shard and the bid stays one script.
   */
  bidRateLimit(itemId: string, userId: string): string;
  /** Prefix of the other rate-limit counters (rate-limiter-flexible's, one key each). */
  readonly rateLimitPrefix: string;
  /** A created room's record and members (in the partition of its id, see @gavel/shared). */
  room(roomId: string): RoomKeys;
}

/** The key layout for one REDIS_PREFIX, single node or cluster. */
export function redisKeys(prefix: string, options: { cluster?: boolean } = {}): RedisKeys {
  return options.cluster ? clusterKeys(prefix) : singleNodeKeys(prefix);
}

function singleNodeKeys(prefix: string): RedisKeys {
  const only: Partition = {
    index: 0,
    openItems: `${prefix}items:open`,
    closedItems: `${prefix}items:closed`,
    outbox: `${prefix}outbox`,
    noIdempotency: `${prefix}idem:-`,
  };
  return {
    prefix,
    cluster: false,
    partitions: [only],
    partitionOf: () => only,
    item: (itemId) => `${prefix}item:${itemId}`,
    idempotency: (_itemId, userId, key) => `${prefix}idem:${userId}:${key}`,
    bidRateLimit: (_itemId, userId) => `${prefix}rl:bid:${userId}`,
    rateLimitPrefix: `${prefix}rl`,
    room: (roomId) => roomKeys(prefix, roomId),
  };
}

function clusterKeys(prefix: string): RedisKeys {
  const tags = partitionTags(CLUSTER_PARTITIONS);
  const partitions = tags.map((tag, index): Partition => ({
    index,
    openItems: `${prefix}${tag}:items:open`,
    closedItems: `${prefix}${tag}:items:closed`,
    outbox: `${prefix}${tag}:outbox`,
    noIdempotency: `${prefix}${tag}:idem:-`,
  }));
  const indexOf = (itemId: string) => partitionIndex(itemId, CLUSTER_PARTITIONS);
  const tagOf = (itemId: string) => tags[indexOf(itemId)]!;
  return {
    prefix,
    cluster: true,
    partitions,
    partitionOf: (itemId) => partitions[indexOf(itemId)]!,
    item: (itemId) => `${prefix}${tagOf(itemId)}:item:${itemId}`,
    // Ids are [A-Za-z0-9_-] (no ':'), and the client's key comes last: no two requests share a key.
    idempotency: (itemId, userId, key) => `${prefix}${tagOf(itemId)}:idem:${itemId}:${userId}:${key}`,
    bidRateLimit: (itemId, userId) => `${prefix}${tagOf(itemId)}:rl:bid:${itemId}:${userId}`,
    rateLimitPrefix: `${prefix}rl`,
    room: (roomId) => roomKeys(prefix, roomId, { cluster: true }),
  };
}

/** Consumer group of the outbox relays; replicas share it. */
export const OUTBOX_GROUP = 'relay';

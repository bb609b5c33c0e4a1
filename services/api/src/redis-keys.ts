/**
 * Every Redis key of the api, under REDIS_PREFIX. All keys of one deployment live in one Redis
 * (non-cluster mode, or one shard): the bid script touches an item, the indexes and the outbox
 * in one atomic step.
 */
export function redisKeys(prefix: string) {
  return {
    /** Hash: the item, its highest bid and its last seq. */
    item: (itemId: string) => `${prefix}item:${itemId}`,
    /** ZSET of open items scored by endsAt (ms): the closer's work list and the open listing. */
    openItems: `${prefix}items:open`,
    /** ZSET of closed items scored by closedAt (ms). */
    closedItems: `${prefix}items:closed`,
    /** Stream of events accepted by Redis and not yet acknowledged by JetStream. */
    outbox: `${prefix}outbox`,
    /** The stored answer of one Idempotency-Key, scoped per user. */
    idempotency: (userId: string, key: string) => `${prefix}idem:${userId}:${key}`,
    /** Placeholder key for a bid without Idempotency-Key (scripts must declare every key). */
    noIdempotency: `${prefix}idem:-`,
    rateLimitPrefix: `${prefix}rl`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;

/** Consumer group of the outbox relays; replicas share it. */
export const OUTBOX_GROUP = 'relay';

// The package ships no types; every workspace that compiles this file needs the declaration.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- an ambient module, not importable
/// <reference path="./types/cluster-key-slot.d.ts" />
import calculateSlot from 'cluster-key-slot';

/**
 * How ids are spread over a Redis Cluster: the api's item keys (services/api/src/redis-keys.ts)
 * and the room records both services read (room-records.ts) are laid out by these functions, so
 * that every process computes the same key, and so the same shard, for one id.
 *
 * An id's partition is the slot range its own id falls in (the slot of `{id}`, cut into
 * CLUSTER_PARTITIONS equal ranges), and the partition's tag is a short string that hashes to a
 * slot in the middle of that range. A tag per id (`{id}`) would put every item on its own slot,
 * and then the outbox would need a stream per slot — up to 16,384 streams to drain.
 */

/** Hash slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

/**
 * Partitions in cluster mode. An item's keys live in its partition for as long as the data
 * lives, so this is fixed: changing it moves items to other keys (a migration). 24 spreads
 * evenly over 1, 2, 3, 4, 6, 8, 12 or 24 shards whose slots are split evenly (as ElastiCache and
 * `redis-cli --cluster create` split them); more shards than partitions leave shards idle.
 */
export const CLUSTER_PARTITIONS = 24;

/** The Redis Cluster hash slot of a key (honouring its `{hash tag}`). */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

/** The partition of an id: which of `count` equal slot ranges the slot of `{id}` is in. */
export function partitionIndex(id: string, count: number): number {
  return Math.floor((calculateSlot(id) * count) / CLUSTER_SLOTS);
}

/**
 * One hash tag per partition, `{p<i>-<n>}` with the smallest n whose slot lies in the middle
 * half of partition i's slot range (the whole range when it is too narrow for that). Pure and
 * deterministic: every replica computes the same tags.
 */
export function partitionTags(count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const lo = Math.ceil((i * CLUSTER_SLOTS) / count);
    const hi = Math.ceil(((i + 1) * CLUSTER_SLOTS) / count);
    const quarter = Math.floor((hi - lo) / 4);
    const [from, to] = quarter > 0 ? [lo + quarter, hi - quarter] : [lo, hi];
    for (let n = 0; ; n++) {
      const slot = calculateSlot(`p${i}-${n}`);
      if (slot >= from && slot < to) return `{p${i}-${n}}`;
    }
  });
}

let clusterTags: string[] | undefined;

/** The hash tag of an id's partition in cluster mode (CLUSTER_PARTITIONS partitions). */
export function partitionTagOf(id: string): string {
  clusterTags ??= partitionTags(CLUSTER_PARTITIONS);
  return clusterTags[partitionIndex(id, CLUSTER_PARTITIONS)]!;
}

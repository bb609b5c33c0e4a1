import type { Cluster } from 'ioredis';
import type { LocalRedisCluster } from '@gavel/shared/testing';
import { redisKeys, type RedisKeys } from '../src/redis-keys.js';

/** A test's looks into its keys on a local Redis Cluster (the cluster layout of redis-keys.ts). */
export class ClusterProbe {
  readonly redis: Cluster;
  readonly keys: RedisKeys;

  constructor(
    private readonly cluster: LocalRedisCluster,
    readonly prefix: string,
  ) {
    this.redis = cluster.client();
    this.keys = redisKeys(prefix, { cluster: true });
  }

  /** Events waiting in the outbox streams of every partition. */
  async outboxDepth(): Promise<number> {
    const lengths = await Promise.all(this.keys.partitions.map((p) => this.redis.xlen(p.outbox)));
    return lengths.reduce((a, b) => a + b, 0);
  }

  /** Entries pending in the relay group, over every partition. */
  async pending(): Promise<number> {
    const counts = await Promise.all(
      this.keys.partitions.map(async (p) => {
        const [n] = (await this.redis.xpending(p.outbox, 'relay').catch(() => [0])) as [number];
        return n;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** The port of the primary that holds an item's keys now. */
  async shardOf(itemId: string): Promise<number> {
    return this.cluster.primaryOf(await this.cluster.keySlot(this.keys.item(itemId)));
  }

  async seqOf(itemId: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.item(itemId), 'seq')) ?? 0);
  }

  async cleanup(): Promise<void> {
    await this.cluster.deleteKeys(this.prefix).catch(() => undefined);
    this.redis.disconnect();
  }
}

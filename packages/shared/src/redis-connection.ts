import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ConfigError } from './config.js';

/**
 * One way every service connects to Redis: a single node (the default), or a Redis Cluster
 * (ElastiCache cluster mode) when REDIS_CLUSTER=true, reached through one or more seed nodes
 * listed in REDIS_URL. Both are ioredis clients with the same command methods.
 */
export type RedisConnection = Redis | Cluster;

export interface RedisTarget {
  readonly REDIS_URL: string;
  readonly REDIS_CLUSTER: boolean;
}

/** The URLs of REDIS_URL (already checked by its schema: each parses and has a Redis scheme). */
export function redisSeedUrls(value: string): URL[] {
  return value.split(',').map((part) => new URL(part.trim()));
}

/**
 * What the schema of one variable cannot see: several seeds only make sense for a cluster, and
 * the seeds of one cluster share a scheme and credentials (a cluster has one database, 0).
 */
export function requireRedisTopology(config: RedisTarget): void {
  const seeds = redisSeedUrls(config.REDIS_URL);
  const first = seeds[0]!;
  const problems: string[] = [];
  if (!config.REDIS_CLUSTER && seeds.length > 1) {
    problems.push(`REDIS_URL: names ${seeds.length} nodes; several seed nodes need REDIS_CLUSTER=true`);
  }
  if (config.REDIS_CLUSTER) {
    for (const seed of seeds) {
      if (seed.pathname !== '' && seed.pathname !== '/' && seed.pathname !== '/0') {
        problems.push(`REDIS_URL: a Redis Cluster has only database 0 (got ${seed.pathname})`);
        break;
      }
    }
    const mismatch = seeds.find(
      (s) => s.protocol !== first.protocol || s.username !== first.username || s.password !== first.password,
    );
    if (mismatch) {
      problems.push('REDIS_URL: every seed node of one cluster needs the same scheme and credentials');
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

export interface RedisConnectOptions {
  /** Options of each connection (the only one, or each node's in a cluster). */
  readonly redis?: RedisOptions;
  /** Cluster-level options, used when REDIS_CLUSTER=true. */
  readonly cluster?: Omit<ClusterOptions, 'redisOptions'>;
}

/** Connects as configured: `new Redis(url)` for one node, `new Cluster(seeds)` for a cluster. */
export function connectRedis(target: RedisTarget, options: RedisConnectOptions = {}): RedisConnection {
  const seeds = redisSeedUrls(target.REDIS_URL);
  if (!target.REDIS_CLUSTER) return new Redis(seeds[0]!.toString(), options.redis ?? {});
  const first = seeds[0]!;
  const tls = first.protocol === 'rediss:';
  const nodeOptions: RedisOptions = {
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    ...(tls ? { tls: {} } : {}),
    ...options.redis,
  };
  return new Cluster(
    seeds.map((s) => ({ host: s.hostname, port: Number(s.port || 6379) })),
    {
      ...options.cluster,
      redisOptions: nodeOptions,
      // With TLS the nodes are reached by the names the cluster announces (ElastiCache's
      // certificates are issued for them), not by the addresses those resolve to.
      ...(tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    },
  );
}

/** True for a cluster client. */
export function isCluster(redis: RedisConnection): redis is Cluster {
  return redis instanceof Cluster;
}

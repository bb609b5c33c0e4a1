import { describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { commonEnv, ConfigError, loadConfig } from '../src/config.js';
import { connectRedis, isCluster, redisSeedUrls, requireRedisTopology } from '../src/redis-connection.js';

const load = (env: Record<string, string>) => {
  const config = loadConfig(commonEnv, env);
  requireRedisTopology(config);
  return config;
};

describe('REDIS_URL and REDIS_CLUSTER', () => {
  it('defaults to one local node, not a cluster', () => {
    expect(load({})).toMatchObject({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER: false });
  });

  it('takes several seed nodes for a cluster', () => {
    const config = load({ REDIS_CLUSTER: 'true', REDIS_URL: 'redis://10.0.0.1:7000, redis://10.0.0.2:7001' });
    expect(redisSeedUrls(config.REDIS_URL).map((u) => u.host)).toEqual(['10.0.0.1:7000', '10.0.0.2:7001']);
  });

  it.each([
    [{ REDIS_URL: 'redis://a:7000,redis://b:7001' }, /several seed nodes need REDIS_CLUSTER=true/],
    [{ REDIS_CLUSTER: 'true', REDIS_URL: 'redis://a:7000,b:7001' }, /REDIS_URL: entry 2 of the list/],
    [{ REDIS_CLUSTER: 'true', REDIS_URL: 'redis://a:7000/3' }, /only database 0/],
    [{ REDIS_CLUSTER: 'true', REDIS_URL: 'rediss://:t@a:7000,redis://:t@b:7001' }, /same scheme/],
    [{ REDIS_CLUSTER: 'yes' }, /REDIS_CLUSTER/],
  ])('refuses %j', (env, message) => {
    expect(() => load(env)).toThrow(ConfigError);
    expect(() => load(env)).toThrow(message);
  });

  it('builds a Cluster client with the seeds credentials and TLS for every node', async () => {
    const cluster = connectRedis(
      {
        REDIS_CLUSTER: true,
        REDIS_URL: 'rediss://user:s%40cret@node-a:7000,rediss://user:s%40cret@node-b:7001',
      },
      { redis: { lazyConnect: true }, cluster: { lazyConnect: true } },
    );
    try {
      expect(cluster).toBeInstanceOf(Cluster);
      expect(isCluster(cluster)).toBe(true);
      const c = cluster as Cluster;
      expect(c.options.redisOptions).toMatchObject({ username: 'user', password: 's@cret', tls: {} });
    } finally {
      cluster.disconnect();
    }
    const single = connectRedis(
      { REDIS_CLUSTER: false, REDIS_URL: 'redis://127.0.0.1:1' },
      { redis: { lazyConnect: true } },
    );
    expect(single).toBeInstanceOf(Redis);
    expect(isCluster(single)).toBe(false);
    single.disconnect();
  });
});

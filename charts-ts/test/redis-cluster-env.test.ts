import { describe, expect, it } from 'vitest';
import { readPlatformOutputs } from '../src/platform-outputs.js';
import { eksProfile } from '../src/profiles.js';
import { EXAMPLE_IMAGE_TAG, EXAMPLE_PLATFORM_OUTPUTS } from '../src/synth-options.js';
import { find, kindConfig, podSpec, synthAll, type K8sObject } from './helpers.js';

/** Every Redis client reads REDIS_CLUSTER from the ConfigMap, which follows the platform's outputs. */
describe('REDIS_CLUSTER', () => {
  const eks = (clusterMode: boolean) => {
    const outputs = readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS);
    return synthAll(
      eksProfile(
        { ...outputs, redis: { ...outputs.redis, clusterMode } },
        { weights: { blue: 100, green: 0 }, imageTag: EXAMPLE_IMAGE_TAG },
      ),
    );
  };
  const redisClients = (objects: K8sObject[]) =>
    ['api', 'broadcast-blue', 'broadcast-green'].map(
      (name) => podSpec(find(objects, 'Deployment', name)).containers[0],
    );

  it.each([
    ['kind, in-cluster Redis', () => synthAll(kindConfig()), 'false'],
    ['eks, cluster mode off', () => eks(false), 'false'],
    ['eks, ElastiCache cluster mode', () => eks(true), 'true'],
  ])('%s: %s', (_label, objects, expected) => {
    const all = objects();
    expect(find(all, 'ConfigMap', 'gavel-config').data.REDIS_CLUSTER).toBe(expected);
    for (const container of redisClients(all)) {
      const env = container.env.find((e: { name: string }) => e.name === 'REDIS_CLUSTER');
      expect(env.valueFrom.configMapKeyRef).toEqual({ name: 'gavel-config', key: 'REDIS_CLUSTER' });
    }
  });
});

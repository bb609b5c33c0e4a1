import * as pulumi from '@pulumi/pulumi';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadPlatformConfig, PlatformConfigError } from '../src/config.js';
import { stackConfig } from './support/program.js';

describe('loadPlatformConfig', () => {
  beforeEach(async () => {
    await pulumi.runtime.setMocks(
      { newResource: (args) => ({ id: args.name, state: args.inputs }), call: () => ({}) },
      'gavel-platform',
      'dev',
      false,
    );
  });

  it.each(['dev', 'prod'])('accepts the %s stack file over the Pulumi.yaml defaults', (stack) => {
    pulumi.runtime.setAllConfig(stackConfig(stack));
    const config = loadPlatformConfig();
    expect(config).toMatchObject({
      region: 'us-east-1',
      latencyInstanceType: 'm6i.8xlarge',
      namespace: 'gavel',
    });
    expect(config.clusterPublicAccessCidrs).toEqual(['0.0.0.0/0']);
    expect(config.clusterAdminRoleArns).toEqual([]);
  });

  const failure = (overrides: Record<string, string>) => {
    pulumi.runtime.setAllConfig(stackConfig('dev', overrides));
    try {
      loadPlatformConfig();
    } catch (err) {
      expect(err).toBeInstanceOf(PlatformConfigError);
      return (err as Error).message;
    }
    throw new Error('expected loadPlatformConfig to throw');
  };

  it('refuses malformed values and names every bad key', () => {
    const message = failure({
      vpcCidr: '10.0.0.0/8',
      logRetentionDays: '10',
      natGatewayPerAz: 'maybe',
      azCount: '4',
      allowedOrigins: '["gavel.example.com/path"]',
      metricsNamespace: 'Not A Namespace',
    });
    for (const key of [
      'vpcCidr',
      'logRetentionDays',
      'natGatewayPerAz',
      'azCount',
      'allowedOrigins',
      'metricsNamespace',
    ]) {
      expect(message).toContain(`gavel-platform:${key}`);
    }
  });

  it('refuses values that contradict each other', () => {
    const message = failure({ generalMinSize: '5', latencyZoneIndex: '2', dbAllocatedStorageGb: '200' });
    for (const key of ['generalDesiredSize', 'latencyZoneIndex', 'dbMaxAllocatedStorageGb']) {
      expect(message).toContain(`gavel-platform:${key}`);
    }
  });

  it('refuses a latency lab without an image tag or with a client VPC overlapping the cluster VPC', () => {
    const message = failure({ latencyLabEnabled: 'true', latencyLabClientVpcCidr: '10.0.0.0/16' });
    expect(message).toMatch(/gavel-platform:latencyLabImageTag: must name the latency image tag/);
    expect(message).toMatch(/gavel-platform:latencyLabClientVpcCidr: overlaps vpcCidr 10\.0\.0\.0\/16/);
    pulumi.runtime.setAllConfig(
      stackConfig('prod', { latencyLabEnabled: 'true', latencyLabImageTag: '0.1.0-abc1234' }),
    );
    expect(loadPlatformConfig()).toMatchObject({
      latencyLabEnabled: true,
      latencyLabClientVpcCidr: '10.1.0.0/16',
    });
    // Off, the lab's keys are not checked against each other.
    pulumi.runtime.setAllConfig(stackConfig('dev', { latencyLabClientVpcCidr: '10.0.0.0/16' }));
    expect(loadPlatformConfig().latencyLabEnabled).toBe(false);
  });

  it('reads redisClusterMode as shards and replicas per shard, or off', () => {
    pulumi.runtime.setAllConfig(stackConfig('prod'));
    expect(loadPlatformConfig().redisClusterMode).toEqual({ shards: 3, replicasPerShard: 1 });
    pulumi.runtime.setAllConfig(stackConfig('dev'));
    expect(loadPlatformConfig().redisClusterMode).toBeNull();
    for (const bad of [
      '3',
      '{"shards":0,"replicasPerShard":1}',
      '{"shards":3}',
      '{"shards":3,"replicasPerShard":9}',
    ]) {
      expect(failure({ redisClusterMode: bad })).toContain('gavel-platform:redisClusterMode');
    }
    // Replicas are per shard in cluster mode; the cluster-mode-off count would be ignored.
    expect(failure({ redisClusterMode: '{"shards":2,"replicasPerShard":1}', redisReplicas: '1' })).toContain(
      'gavel-platform:redisReplicas',
    );
  });

  it('refuses a stack with a key missing', () => {
    const config = stackConfig('dev');
    delete config['gavel-platform:redisNodeType'];
    pulumi.runtime.setAllConfig(config);
    expect(() => loadPlatformConfig()).toThrow(/gavel-platform:redisNodeType/);
  });

  it('requires aws:region', () => {
    const config = stackConfig('dev');
    delete config['aws:region'];
    pulumi.runtime.setAllConfig(config);
    expect(() => loadPlatformConfig()).toThrow(/aws:region/);
  });
});

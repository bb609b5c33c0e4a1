import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { GeneratedSecret } from './generated-secret.js';

export const REDIS_PORT = 6379;

export interface CacheArgs {
  readonly vpcId: pulumi.Input<string>;
  readonly subnetIds: pulumi.Input<string>[];
  /** The only security group admitted on 6379: the EKS nodes'. */
  readonly clientSecurityGroupId: pulumi.Input<string>;
  readonly nodeType: string;
  readonly engineVersion: string;
  /** Read replicas besides the primary (cluster mode off); one or more turns on automatic failover and Multi-AZ. */
  readonly replicas: number;
  /** Cluster mode: this many shards, each a primary with this many replicas. @default off */
  readonly clusterMode?: CacheClusterMode | null;
  readonly snapshotRetentionDays: number;
}

export interface CacheClusterMode {
  readonly shards: number;
  /** One or more turns on Multi-AZ; a shard without replicas has nothing to fail over to. */
  readonly replicasPerShard: number;
}

/**
 * ElastiCache Redis: TLS required in transit, encrypted at rest, AUTH token kept in Secrets
 * Manager. Cluster mode off: one primary (with its replicas). Cluster mode on: the bids are
 * spread over shards by item (every key of one item shares a hash slot, see the api's
 * redis-keys.ts), and the services connect with REDIS_CLUSTER=true through the configuration
 * endpoint.
 */
export class Cache extends pulumi.ComponentResource {
  readonly host: pulumi.Output<string>;
  readonly port: number = REDIS_PORT;
  readonly authToken: pulumi.Output<string>;
  readonly authTokenSecretArn: pulumi.Output<string>;
  /** Member cache cluster ids (`<group>-001`, ... or `<group>-0001-001`, ... in cluster mode), the dimension of ElastiCache's metrics. */
  readonly memberClusterIds: string[];
  /** Cluster mode on: clients must speak Redis Cluster (REDIS_CLUSTER=true). */
  readonly clusterMode: boolean;

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:Cache', name, {}, opts);
    const parent = { parent: this };
    const replicationGroupId = `${name}-redis`;
    const cluster = args.clusterMode ?? null;
    const nodesPerShard = 1 + (cluster ? cluster.replicasPerShard : args.replicas);
    const failover = nodesPerShard > 1;

    const securityGroup = new aws.ec2.SecurityGroup(
      `${name}-redis`,
      { vpcId: args.vpcId, description: `Redis for ${name}, reachable from EKS nodes only` },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-from-nodes`,
      {
        securityGroupId: securityGroup.id,
        referencedSecurityGroupId: args.clientSecurityGroupId,
        ipProtocol: 'tcp',
        fromPort: REDIS_PORT,
        toPort: REDIS_PORT,
        description: 'Redis from EKS nodes',
      },
      parent,
    );

    const subnetGroup = new aws.elasticache.SubnetGroup(
      name,
      { subnetIds: args.subnetIds, description: `${name} private subnets` },
      parent,
    );

    const authToken = new GeneratedSecret(
      `${name}-redis-auth`,
      { description: `AUTH token of ${replicationGroupId}`, length: 64 },
      parent,
    );

    // Cluster mode needs a parameter group with cluster-enabled; a shard without a primary must
    // not stop the others (cluster-require-full-coverage no): bids on its items get 503 until
    // its replica takes over, every other item goes on.
    const parameterGroup = cluster
      ? new aws.elasticache.ParameterGroup(
          `${name}-redis-cluster`,
          {
            family: `redis${args.engineVersion.split('.')[0]}`,
            description: `Redis cluster mode for ${replicationGroupId}`,
            parameters: [
              { name: 'cluster-enabled', value: 'yes' },
              { name: 'cluster-require-full-coverage', value: 'no' },
            ],
          },
          parent,
        )
      : undefined;

    const replicationGroup = new aws.elasticache.ReplicationGroup(
      name,
      {
        replicationGroupId,
        description: `Gavel bids, presence and DM ledger (${name})`,
        engine: 'redis',
        engineVersion: args.engineVersion,
        nodeType: args.nodeType,
        port: REDIS_PORT,
        ...(cluster && parameterGroup
          ? {
              numNodeGroups: cluster.shards,
              replicasPerNodeGroup: cluster.replicasPerShard,
              parameterGroupName: parameterGroup.name,
              // Cluster mode requires it; it only acts where a shard has a replica.
              automaticFailoverEnabled: true,
            }
          : { numCacheClusters: nodesPerShard, automaticFailoverEnabled: failover }),
        multiAzEnabled: failover,
        subnetGroupName: subnetGroup.name,
        securityGroupIds: [securityGroup.id],
        atRestEncryptionEnabled: true,
        transitEncryptionEnabled: true,
        transitEncryptionMode: 'required',
        authToken: authToken.value,
        snapshotRetentionLimit: args.snapshotRetentionDays,
        autoMinorVersionUpgrade: true,
        maintenanceWindow: 'sun:05:30-sun:06:30',
        applyImmediately: !failover,
      },
      parent,
    );

    // Cluster mode: the configuration endpoint, from which clients learn every shard's nodes.
    this.host = cluster
      ? replicationGroup.configurationEndpointAddress
      : replicationGroup.primaryEndpointAddress;
    this.authToken = authToken.value;
    this.authTokenSecretArn = authToken.arn;
    this.clusterMode = cluster !== null;
    const node = (i: number) => String(i + 1).padStart(3, '0');
    this.memberClusterIds = cluster
      ? Array.from({ length: cluster.shards }, (_, shard) =>
          Array.from(
            { length: nodesPerShard },
            (_, i) => `${replicationGroupId}-${String(shard + 1).padStart(4, '0')}-${node(i)}`,
          ),
        ).flat()
      : Array.from({ length: nodesPerShard }, (_, i) => `${replicationGroupId}-${node(i)}`);
    this.registerOutputs({ host: this.host, authTokenSecretArn: this.authTokenSecretArn });
  }
}

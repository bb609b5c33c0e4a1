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
  /** Read replicas besides the primary; one or more turns on automatic failover and Multi-AZ. */
  readonly replicas: number;
  readonly snapshotRetentionDays: number;
}

/**
 * ElastiCache Redis (cluster mode off, as the Socket.IO adapter and the bid scripts expect):
 * TLS required in transit, encrypted at rest, AUTH token kept in Secrets Manager.
 */
export class Cache extends pulumi.ComponentResource {
  readonly host: pulumi.Output<string>;
  readonly port: number = REDIS_PORT;
  readonly authToken: pulumi.Output<string>;
  readonly authTokenSecretArn: pulumi.Output<string>;
  /** Member cache cluster ids (`<group>-001`, ...), the dimension of ElastiCache's metrics. */
  readonly memberClusterIds: string[];

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:Cache', name, {}, opts);
    const parent = { parent: this };
    const replicationGroupId = `${name}-redis`;
    const nodeCount = 1 + args.replicas;
    const failover = args.replicas > 0;

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

    const replicationGroup = new aws.elasticache.ReplicationGroup(
      name,
      {
        replicationGroupId,
        description: `Gavel bids, presence and Socket.IO adapter (${name})`,
        engine: 'redis',
        engineVersion: args.engineVersion,
        nodeType: args.nodeType,
        port: REDIS_PORT,
        numCacheClusters: nodeCount,
        automaticFailoverEnabled: failover,
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

    this.host = replicationGroup.primaryEndpointAddress;
    this.authToken = authToken.value;
    this.authTokenSecretArn = authToken.arn;
    this.memberClusterIds = Array.from(
      { length: nodeCount },
      (_, i) => `${replicationGroupId}-${String(i + 1).padStart(3, '0')}`,
    );
    this.registerOutputs({ host: this.host, authTokenSecretArn: this.authTokenSecretArn });
  }
}

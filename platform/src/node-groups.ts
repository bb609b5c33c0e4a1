import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import {
  GENERAL_POOL,
  LATENCY_CLIENTS_POOL,
  LATENCY_NODE_POOL,
  LATENCY_POOL,
  POOL_LABEL_KEY,
} from '@gavel/shared';
import type { PlatformOutputs } from '@gavel/shared';

type NodePoolShape = Omit<PlatformOutputs['nodePools']['general'], 'maxSize'>;
type Taint = NodePoolShape['taints'][number];

/**
 * Kubelet settings of the latency pool: the static CPU manager gives a Guaranteed pod with whole
 * CPUs exclusive cores, and full-pcpus-only hands out both hyperthreads of a core together, so
 * the echo server never shares a physical core with anything else.
 */
export const LATENCY_KUBELET = {
  cpuManagerPolicy: 'static',
  cpuManagerPolicyOptions: { 'full-pcpus-only': 'true' },
} as const;

/**
 * User data of a managed node group's launch template on AL2023: a MIME part holding a nodeadm
 * NodeConfig, which EKS merges with its own (cluster endpoint, CA) before the node joins.
 */
export function nodeadmUserData(kubelet: Readonly<Record<string, unknown>>): string {
  const boundary = 'GAVEL-NODEADM';
  const nodeConfig = [
    'apiVersion: node.eks.aws/v1alpha1',
    'kind: NodeConfig',
    'spec:',
    '  kubelet:',
    '    config:',
    ...JSON.stringify(kubelet, null, 2)
      .split('\n')
      .map((line) => `      ${line}`),
  ].join('\n');
  const text = [
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: application/node.eks.aws',
    '',
    nodeConfig,
    '',
    `--${boundary}--`,
    '',
  ].join('\n');
  return Buffer.from(text, 'utf8').toString('base64');
}

/** The label and taint of each pool; the latency pools are tainted so only the lab lands there. */
export const NODE_POOLS = {
  general: { labels: { [POOL_LABEL_KEY]: GENERAL_POOL }, taints: [] },
  latency: LATENCY_NODE_POOL,
  latencyClients: {
    labels: { [POOL_LABEL_KEY]: LATENCY_CLIENTS_POOL },
    taints: [{ key: POOL_LABEL_KEY, value: LATENCY_CLIENTS_POOL, effect: 'NoSchedule' }],
  },
} satisfies Record<string, NodePoolShape>;

const EKS_TAINT_EFFECT: Record<Taint['effect'], string> = {
  NoSchedule: 'NO_SCHEDULE',
  PreferNoSchedule: 'PREFER_NO_SCHEDULE',
  NoExecute: 'NO_EXECUTE',
};

export interface NodePoolArgs {
  readonly clusterName: pulumi.Input<string>;
  readonly nodeRoleArn: pulumi.Input<string>;
  readonly nodeSecurityGroupId: pulumi.Input<string>;
  /** Private subnets the pool's nodes are placed in (one subnet pins the pool to one zone). */
  readonly subnetIds: pulumi.Input<string>[];
  readonly instanceType: string;
  readonly minSize: number;
  readonly desiredSize: number;
  readonly maxSize: number;
  readonly volumeSizeGb: number;
  readonly pool: NodePoolShape;
  /** KubeletConfiguration fields set through nodeadm. @default {} (the AMI's defaults) */
  readonly kubelet?: Readonly<Record<string, unknown>>;
  /**
   * The Cluster Autoscaler owns the node count between min and max: `pulumi up` must not reset
   * it to desiredSize. @default false
   */
  readonly autoscaled?: boolean;
}

/**
 * One EKS managed node group with its own launch template: IMDSv2 only with a hop limit of 1
 * (pods cannot borrow the node's credentials; they get IRSA roles), encrypted gp3 root volume,
 * the cluster's node security group.
 */
export class NodePool extends pulumi.ComponentResource {
  readonly nodeGroup: aws.eks.NodeGroup;

  constructor(name: string, args: NodePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:NodePool', name, {}, opts);

    const launchTemplate = new aws.ec2.LaunchTemplate(
      name,
      {
        description: `EKS managed node group ${name}`,
        metadataOptions: {
          httpEndpoint: 'enabled',
          httpTokens: 'required',
          httpPutResponseHopLimit: 1,
        },
        blockDeviceMappings: [
          {
            deviceName: '/dev/xvda',
            ebs: {
              volumeSize: args.volumeSizeGb,
              volumeType: 'gp3',
              encrypted: 'true',
              deleteOnTermination: 'true',
            },
          },
        ],
        vpcSecurityGroupIds: [args.nodeSecurityGroupId],
        ...(args.kubelet ? { userData: nodeadmUserData(args.kubelet) } : {}),
        tagSpecifications: [{ resourceType: 'instance', tags: { Name: name } }],
        updateDefaultVersion: true,
      },
      { parent: this },
    );

    this.nodeGroup = new aws.eks.NodeGroup(
      name,
      {
        clusterName: args.clusterName,
        nodeGroupNamePrefix: `${name}-`,
        nodeRoleArn: args.nodeRoleArn,
        subnetIds: args.subnetIds,
        amiType: 'AL2023_x86_64_STANDARD',
        capacityType: 'ON_DEMAND',
        instanceTypes: [args.instanceType],
        scalingConfig: {
          minSize: args.minSize,
          desiredSize: args.desiredSize,
          maxSize: args.maxSize,
        },
        labels: args.pool.labels,
        taints: args.pool.taints.map((taint) => ({
          key: taint.key,
          value: taint.value,
          effect: EKS_TAINT_EFFECT[taint.effect],
        })),
        launchTemplate: { id: launchTemplate.id, version: launchTemplate.latestVersion.apply(String) },
        updateConfig: { maxUnavailable: 1 },
      },
      { parent: this, ...(args.autoscaled ? { ignoreChanges: ['scalingConfig.desiredSize'] } : {}) },
    );

    this.registerOutputs({ nodeGroupName: this.nodeGroup.nodeGroupName });
  }
}

export interface NodeGroupsArgs {
  readonly clusterName: pulumi.Input<string>;
  readonly nodeSecurityGroupId: pulumi.Input<string>;
  readonly privateSubnetIds: pulumi.Input<string>[];
  readonly volumeSizeGb: number;
  readonly general: {
    readonly instanceType: string;
    readonly minSize: number;
    readonly desiredSize: number;
    readonly maxSize: number;
  };
  readonly latency: {
    readonly instanceType: string;
    readonly nodeCount: number;
    /** Index into privateSubnetIds: the zone the latency server (and its clients) live in. */
    readonly zoneIndex: number;
  };
  /** A pool for load-generating clients in the latency server's zone. @default undefined (none) */
  readonly latencyClients?: { readonly instanceType: string; readonly nodeCount: number };
}

const NODE_POLICIES = [
  'arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy',
  'arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy',
  'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly',
];

/** The node IAM role and the managed node groups: general, latency and optional latency-clients. */
export class NodeGroups extends pulumi.ComponentResource {
  readonly general: NodePool;
  readonly latency: NodePool;
  readonly latencyClients: NodePool | undefined;
  /** Labels and taints of the pools that exist, as charts-ts reads them. */
  readonly pools: PlatformOutputs['nodePools'];
  readonly all: NodePool[];

  constructor(name: string, args: NodeGroupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:NodeGroups', name, {}, opts);

    const role = new aws.iam.Role(
      `${name}-node`,
      {
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'ec2.amazonaws.com' },
              Action: 'sts:AssumeRole',
            },
          ],
        }),
      },
      { parent: this },
    );
    const attachments = NODE_POLICIES.map(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-node-${i}`,
          { role: role.name, policyArn },
          { parent: this },
        ),
    );
    const common = {
      clusterName: args.clusterName,
      nodeRoleArn: role.arn,
      nodeSecurityGroupId: args.nodeSecurityGroupId,
      volumeSizeGb: args.volumeSizeGb,
    };
    const childOpts = { parent: this, dependsOn: attachments };

    this.general = new NodePool(
      `${name}-${GENERAL_POOL}`,
      {
        ...common,
        subnetIds: args.privateSubnetIds,
        ...args.general,
        pool: NODE_POOLS.general,
        autoscaled: true,
      },
      childOpts,
    );

    const latencySubnet = args.privateSubnetIds[args.latency.zoneIndex];
    if (latencySubnet === undefined) throw new Error('latency zone index outside the subnets');
    this.latency = new NodePool(
      `${name}-${LATENCY_POOL}`,
      {
        ...common,
        subnetIds: [latencySubnet],
        instanceType: args.latency.instanceType,
        ...fixedSize(args.latency.nodeCount),
        pool: NODE_POOLS.latency,
        kubelet: LATENCY_KUBELET,
      },
      childOpts,
    );

    this.latencyClients = args.latencyClients
      ? new NodePool(
          `${name}-${LATENCY_CLIENTS_POOL}`,
          {
            ...common,
            subnetIds: [latencySubnet],
            instanceType: args.latencyClients.instanceType,
            ...fixedSize(args.latencyClients.nodeCount),
            pool: NODE_POOLS.latencyClients,
          },
          childOpts,
        )
      : undefined;

    this.pools = {
      general: { ...NODE_POOLS.general, maxSize: args.general.maxSize },
      latency: { ...NODE_POOLS.latency, maxSize: args.latency.nodeCount },
      ...(args.latencyClients
        ? { latencyClients: { ...NODE_POOLS.latencyClients, maxSize: args.latencyClients.nodeCount } }
        : {}),
    };
    this.all = [this.general, this.latency, ...(this.latencyClients ? [this.latencyClients] : [])];
    this.registerOutputs({});
  }
}

/** A pool of exactly `count` nodes; EKS wants maxSize >= 1 even when the pool is parked at 0. */
function fixedSize(count: number) {
  return { minSize: count, desiredSize: count, maxSize: Math.max(count, 1) };
}

import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import {
  LATENCY_SERVER_PODS_SERVICE,
  LATENCY_SERVER_PORT,
  LATENCY_SERVER_SERVICE,
  type LatencyLab as LatencyLabOutputs,
} from '@gavel/shared';
import { LatencyClientAgent } from './client-agent.js';
import { LatencyClientVpc } from './client-vpc.js';
import { LatencyLabLoadBalancers } from './lab-load-balancers.js';
import { LatencyPrivateLink } from './private-link.js';
import { LatencyVpcPeering } from './vpc-peering.js';

export interface LatencyLabArgs {
  readonly region: string;
  /** Namespace of the latency server's Services (for the in-cluster target names). */
  readonly namespace: string;
  readonly cluster: {
    readonly vpcId: pulumi.Input<string>;
    readonly cidrBlock: string;
    readonly privateSubnetIds: pulumi.Input<string>[];
    readonly privateRouteTableIds: pulumi.Input<string>[];
    readonly nodeSecurityGroupId: pulumi.Input<string>;
    /** Zone of the latency node pool; the client VPC's subnet sits in it too. */
    readonly latencyZone: pulumi.Input<string>;
  };
  readonly clientVpcCidr: string;
  readonly latencyRepositoryUrl: pulumi.Input<string>;
  readonly imageTag: string;
  readonly privateDnsName: string;
  readonly logRetentionDays: number;
}

/** A ws:// echo URL on the latency port. */
const echoUrl = (host: pulumi.Input<string>) => pulumi.interpolate`ws://${host}:${LATENCY_SERVER_PORT}/echo`;

/**
 * Seed 000's latency topology beside the cluster: a client VPC peered with the cluster VPC, the
 * lab NLB and ALB in front of the latency server, the NLB published over PrivateLink into the
 * client VPC, and the client agent there. {@link outputs} lists every path the compare mode
 * measures, the in-cluster baseline first.
 */
export class LatencyLab extends pulumi.ComponentResource {
  readonly outputs: pulumi.Output<LatencyLabOutputs>;
  readonly clientVpcId: pulumi.Output<string>;
  readonly endpointServiceName: pulumi.Output<string>;
  readonly agentLogGroupName: pulumi.Output<string>;
  readonly agentClusterName: pulumi.Output<string>;

  constructor(name: string, args: LatencyLabArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:LatencyLab', name, {}, opts);
    const parent = { parent: this };
    const account = aws.getCallerIdentityOutput({}, parent);

    const clientVpc = new LatencyClientVpc(
      `${name}-client`,
      { cidrBlock: args.clientVpcCidr, availabilityZone: args.cluster.latencyZone, region: args.region },
      parent,
    );
    this.clientVpcId = clientVpc.vpcId;
    const peering = new LatencyVpcPeering(
      `${name}-peering`,
      {
        client: {
          vpcId: clientVpc.vpcId,
          cidrBlock: clientVpc.cidrBlock,
          routeTableIds: [clientVpc.routeTableId],
        },
        cluster: {
          vpcId: args.cluster.vpcId,
          cidrBlock: args.cluster.cidrBlock,
          routeTableIds: args.cluster.privateRouteTableIds,
        },
      },
      parent,
    );
    const loadBalancers = new LatencyLabLoadBalancers(
      name,
      {
        vpcId: args.cluster.vpcId,
        vpcCidr: args.cluster.cidrBlock,
        subnetIds: args.cluster.privateSubnetIds,
        nodeSecurityGroupId: args.cluster.nodeSecurityGroupId,
        clientVpcCidr: args.clientVpcCidr,
      },
      parent,
    );
    const privateLink = new LatencyPrivateLink(
      `${name}-privatelink`,
      {
        nlbArn: loadBalancers.nlbArn,
        accountId: account.accountId,
        clientVpcId: clientVpc.vpcId,
        clientVpcCidr: clientVpc.cidrBlock,
        clientSubnetIds: [clientVpc.subnetId],
        privateDnsName: args.privateDnsName,
      },
      parent,
    );
    this.endpointServiceName = privateLink.serviceName;

    const nlbUrl = echoUrl(loadBalancers.nlbDnsName);
    const albUrl = echoUrl(loadBalancers.albDnsName);
    const clientTargets = [
      {
        label: 'nlb-peering',
        url: nlbUrl,
        description: 'client VPC -> VPC peering -> lab NLB -> pod',
      },
      {
        label: 'alb-peering',
        url: albUrl,
        description: 'client VPC -> VPC peering -> lab ALB -> pod',
      },
      {
        label: 'privatelink',
        url: echoUrl(privateLink.endpointDnsName),
        description: 'client VPC -> interface endpoint -> PrivateLink -> lab NLB -> pod',
      },
    ];
    const agent = new LatencyClientAgent(
      `${name}-agent`,
      {
        region: args.region,
        accountId: account.accountId,
        vpcId: clientVpc.vpcId,
        vpcCidr: clientVpc.cidrBlock,
        subnetIds: [clientVpc.subnetId],
        s3PrefixListId: clientVpc.s3PrefixListId,
        clusterVpcCidr: args.cluster.cidrBlock,
        clusterVpcId: args.cluster.vpcId,
        nodeSecurityGroupId: args.cluster.nodeSecurityGroupId,
        repositoryUrl: args.latencyRepositoryUrl,
        imageTag: args.imageTag,
        targets: clientTargets,
        logRetentionDays: args.logRetentionDays,
        dependsOn: [peering],
      },
      parent,
    );
    this.agentLogGroupName = agent.logGroupName;
    this.agentClusterName = agent.clusterName;

    const inCluster = (service: string) => `${service}.${args.namespace}.svc.cluster.local`;
    const targets = [
      {
        label: 'pod-ip',
        url: echoUrl(inCluster(LATENCY_SERVER_PODS_SERVICE)),
        from: 'cluster',
        description: 'pod -> pod IP (headless Service), the in-cluster baseline',
      },
      {
        label: 'clusterip',
        url: echoUrl(inCluster(LATENCY_SERVER_SERVICE)),
        from: 'cluster',
        description: 'pod -> ClusterIP (kube-proxy) -> pod',
      },
      { label: 'nlb', url: nlbUrl, from: 'cluster', description: 'pod -> lab NLB -> pod, one VPC' },
      { label: 'alb', url: albUrl, from: 'cluster', description: 'pod -> lab ALB -> pod, one VPC' },
      ...clientTargets.map((t) => ({ ...t, from: 'client-vpc' })),
    ];
    this.outputs = pulumi.output({
      clientVpcCidr: args.clientVpcCidr,
      targetGroupArns: { nlb: loadBalancers.nlbTargetGroupArn, alb: loadBalancers.albTargetGroupArn },
      agentUrl: agent.url,
      targets,
    }) as pulumi.Output<LatencyLabOutputs>;

    this.registerOutputs({ outputs: this.outputs });
  }
}

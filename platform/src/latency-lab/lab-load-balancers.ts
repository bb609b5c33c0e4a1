import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { LATENCY_SERVER_PORT } from '@gavel/shared';

/** WebSockets idle for longer than this are closed by the ALB (as the application's ALB does). */
const IDLE_TIMEOUT_S = 300;

export interface LatencyLabLoadBalancersArgs {
  readonly vpcId: pulumi.Input<string>;
  readonly vpcCidr: string;
  /** The cluster's private subnets: both load balancers are internal and span every zone. */
  readonly subnetIds: pulumi.Input<string>[];
  /** The EKS nodes' group, which the latency server's pods (VPC CNI) use. */
  readonly nodeSecurityGroupId: pulumi.Input<string>;
  /** The client VPC's block, admitted on the latency port across the peering. */
  readonly clientVpcCidr: string;
}

/**
 * The lab's NLB and ALB in the cluster VPC, made here rather than by the AWS Load Balancer
 * Controller because the endpoint service needs the NLB's ARN at `pulumi up`. Their target
 * groups take pod IPs; charts-ts binds the latency server's Service to them with
 * TargetGroupBindings, so the controller still registers and drains the pods.
 */
export class LatencyLabLoadBalancers extends pulumi.ComponentResource {
  readonly nlbArn: pulumi.Output<string>;
  readonly nlbDnsName: pulumi.Output<string>;
  readonly albDnsName: pulumi.Output<string>;
  readonly nlbTargetGroupArn: pulumi.Output<string>;
  readonly albTargetGroupArn: pulumi.Output<string>;

  constructor(name: string, args: LatencyLabLoadBalancersArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:LatencyLabLoadBalancers', name, {}, opts);
    const parent = { parent: this };
    const port = LATENCY_SERVER_PORT;
    const tcp = { ipProtocol: 'tcp', fromPort: port, toPort: port };

    const groupFor = (kind: 'nlb' | 'alb') => {
      const group = new aws.ec2.SecurityGroup(
        `${name}-${kind}`,
        {
          vpcId: args.vpcId,
          description: `latency lab ${kind.toUpperCase()}: the latency port from the cluster and client VPCs`,
        },
        parent,
      );
      // In-cluster clients (the compare Job) and, across the peering, the client VPC.
      for (const [source, cidr] of [
        ['cluster', args.vpcCidr],
        ['client', args.clientVpcCidr],
      ] as const) {
        new aws.vpc.SecurityGroupIngressRule(
          `${name}-${kind}-from-${source}`,
          {
            securityGroupId: group.id,
            cidrIpv4: cidr,
            ...tcp,
            description: `latency port from the ${source} VPC`,
          },
          parent,
        );
      }
      new aws.vpc.SecurityGroupEgressRule(
        `${name}-${kind}-to-pods`,
        { securityGroupId: group.id, cidrIpv4: args.vpcCidr, ...tcp, description: 'latency server pods' },
        parent,
      );
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-pods-from-${kind}`,
        {
          securityGroupId: args.nodeSecurityGroupId,
          referencedSecurityGroupId: group.id,
          ...tcp,
          description: `latency server pods from the latency lab ${kind.toUpperCase()}`,
        },
        parent,
      );
      return group;
    };
    const nlbGroup = groupFor('nlb');
    const albGroup = groupFor('alb');

    const healthCheck = { protocol: 'HTTP', path: '/readyz', port: 'traffic-port', interval: 10 };
    const nlb = new aws.lb.LoadBalancer(
      `${name}-nlb`,
      {
        loadBalancerType: 'network',
        internal: true,
        subnets: args.subnetIds,
        securityGroups: [nlbGroup.id],
        enableCrossZoneLoadBalancing: true,
        // PrivateLink traffic arrives from the endpoint service, whose allowed principals and
        // the endpoint's own group (the latency port from the client VPC) already gate it.
        enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: 'off',
      },
      parent,
    );
    const nlbTargets = new aws.lb.TargetGroup(
      `${name}-nlb`,
      {
        vpcId: args.vpcId,
        targetType: 'ip',
        protocol: 'TCP',
        port,
        // The pods see the NLB's addresses, which the latency server's NetworkPolicy admits.
        preserveClientIp: 'false',
        deregistrationDelay: 10,
        healthCheck,
      },
      parent,
    );
    new aws.lb.Listener(
      `${name}-nlb`,
      {
        loadBalancerArn: nlb.arn,
        protocol: 'TCP',
        port,
        defaultActions: [{ type: 'forward', targetGroupArn: nlbTargets.arn }],
      },
      parent,
    );

    const alb = new aws.lb.LoadBalancer(
      `${name}-alb`,
      {
        loadBalancerType: 'application',
        internal: true,
        subnets: args.subnetIds,
        securityGroups: [albGroup.id],
        idleTimeout: IDLE_TIMEOUT_S,
      },
      parent,
    );
    const albTargets = new aws.lb.TargetGroup(
      `${name}-alb`,
      {
        vpcId: args.vpcId,
        targetType: 'ip',
        protocol: 'HTTP',
        port,
        deregistrationDelay: 10,
        healthCheck: { ...healthCheck, matcher: '200' },
      },
      parent,
    );
    new aws.lb.Listener(
      `${name}-alb`,
      {
        loadBalancerArn: alb.arn,
        protocol: 'HTTP',
        port,
        defaultActions: [{ type: 'forward', targetGroupArn: albTargets.arn }],
      },
      parent,
    );

    this.nlbArn = nlb.arn;
    this.nlbDnsName = nlb.dnsName;
    this.albDnsName = alb.dnsName;
    this.nlbTargetGroupArn = nlbTargets.arn;
    this.albTargetGroupArn = albTargets.arn;
    this.registerOutputs({ nlbArn: this.nlbArn, nlbDnsName: this.nlbDnsName, albDnsName: this.albDnsName });
  }
}

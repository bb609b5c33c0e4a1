import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

/** AWS APIs a Fargate task needs to start without internet access: image pull and logs. */
const INTERFACE_SERVICES = ['ecr.api', 'ecr.dkr', 'logs'] as const;

export interface LatencyClientVpcArgs {
  /** An IPv4 /16 disjoint from the cluster VPC's. */
  readonly cidrBlock: string;
  /** The zone of the latency node pool: client and server share it, as in seed 000. */
  readonly availabilityZone: pulumi.Input<string>;
  readonly region: string;
}

/**
 * The client VPC of the latency lab: one private subnet in the latency server's zone, no
 * internet path at all (ECR, S3 and CloudWatch Logs through endpoints), so nothing but the
 * measured paths leaves it.
 */
export class LatencyClientVpc extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly cidrBlock: string;
  readonly subnetId: pulumi.Output<string>;
  readonly routeTableId: pulumi.Output<string>;
  /** Prefix list of the S3 gateway endpoint, for security-group egress to image layers. */
  readonly s3PrefixListId: pulumi.Output<string>;

  constructor(name: string, args: LatencyClientVpcArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:LatencyClientVpc', name, {}, opts);
    const parent = { parent: this };
    const [a, b] = args.cidrBlock.split('.');
    this.cidrBlock = args.cidrBlock;

    const vpc = new aws.ec2.Vpc(
      name,
      {
        cidrBlock: args.cidrBlock,
        // Interface endpoints answer their service names through the VPC resolver.
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: { Name: name },
      },
      parent,
    );
    this.vpcId = vpc.id;

    const routes = new aws.ec2.RouteTable(`${name}-private`, { vpcId: vpc.id, tags: { Name: name } }, parent);
    this.routeTableId = routes.id;
    const subnet = new aws.ec2.Subnet(
      `${name}-private-0`,
      {
        vpcId: vpc.id,
        availabilityZone: args.availabilityZone,
        cidrBlock: `${a}.${b}.0.0/20`,
        mapPublicIpOnLaunch: false,
        tags: { Name: `${name}-private-0` },
      },
      parent,
    );
    this.subnetId = subnet.id;
    new aws.ec2.RouteTableAssociation(
      `${name}-private-0`,
      { subnetId: subnet.id, routeTableId: routes.id },
      parent,
    );

    const s3 = new aws.ec2.VpcEndpoint(
      `${name}-s3`,
      {
        vpcId: vpc.id,
        serviceName: `com.amazonaws.${args.region}.s3`,
        vpcEndpointType: 'Gateway',
        routeTableIds: [routes.id],
        tags: { Name: `${name}-s3` },
      },
      parent,
    );
    this.s3PrefixListId = s3.prefixListId;
    const endpointSecurityGroup = new aws.ec2.SecurityGroup(
      `${name}-aws-apis`,
      { vpcId: vpc.id, description: `AWS API endpoints of ${name}: HTTPS from the VPC` },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-aws-apis-https`,
      {
        securityGroupId: endpointSecurityGroup.id,
        cidrIpv4: args.cidrBlock,
        ipProtocol: 'tcp',
        fromPort: 443,
        toPort: 443,
        description: 'HTTPS to the AWS API endpoints from the client VPC',
      },
      parent,
    );
    for (const service of INTERFACE_SERVICES) {
      new aws.ec2.VpcEndpoint(
        `${name}-${service.replace('.', '-')}`,
        {
          vpcId: vpc.id,
          serviceName: `com.amazonaws.${args.region}.${service}`,
          vpcEndpointType: 'Interface',
          subnetIds: [subnet.id],
          securityGroupIds: [endpointSecurityGroup.id],
          privateDnsEnabled: true,
          tags: { Name: `${name}-${service}` },
        },
        parent,
      );
    }

    this.registerOutputs({ vpcId: this.vpcId, subnetId: this.subnetId });
  }
}

import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

export interface NetworkArgs {
  /** An IPv4 /16; private subnets take /19s from its start, public subnets /22s from 192. */
  readonly cidrBlock: string;
  /** How many availability zones to spread subnets over. */
  readonly azCount: number;
  /** One NAT gateway per zone (zone-independent egress) instead of one shared gateway. */
  readonly natGatewayPerAz: boolean;
  /** EKS cluster name, for the subnet discovery tag the load balancer controller reads. */
  readonly clusterName: string;
  readonly region: string;
}

/**
 * The VPC: public subnets (load balancers, NAT gateways) and private subnets (nodes, pods, RDS,
 * ElastiCache) in each zone, NAT egress and an S3 gateway endpoint.
 */
export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  /** The VPC's IPv4 block (the load balancers, RDS and ElastiCache all live inside it). */
  readonly cidrBlock: string;
  readonly availabilityZones: pulumi.Output<string>[];
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  /** Route tables of the private subnets (a peered VPC's routes go there). */
  readonly privateRouteTableIds: pulumi.Output<string>[];

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:Network', name, {}, opts);
    const parent = { parent: this };
    const [a, b] = args.cidrBlock.split('.');
    const clusterTag = { [`kubernetes.io/cluster/${args.clusterName}`]: 'shared' };
    this.cidrBlock = args.cidrBlock;

    const zones = aws.getAvailabilityZonesOutput(
      {
        state: 'available',
        filters: [{ name: 'opt-in-status', values: ['opt-in-not-required'] }],
      },
      parent,
    );
    this.availabilityZones = Array.from({ length: args.azCount }, (_, i) =>
      zones.names.apply((names) => {
        const zone = names[i];
        if (!zone) throw new Error(`${args.region} has fewer than ${args.azCount} zones`);
        return zone;
      }),
    );

    const vpc = new aws.ec2.Vpc(
      name,
      {
        cidrBlock: args.cidrBlock,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: { Name: name },
      },
      parent,
    );
    this.vpcId = vpc.id;

    const internetGateway = new aws.ec2.InternetGateway(
      name,
      { vpcId: vpc.id, tags: { Name: name } },
      parent,
    );
    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public`,
      {
        vpcId: vpc.id,
        routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: internetGateway.id }],
        tags: { Name: `${name}-public` },
      },
      parent,
    );

    const publicSubnets = this.availabilityZones.map((zone, i) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-public-${i}`,
        {
          vpcId: vpc.id,
          availabilityZone: zone,
          cidrBlock: `${a}.${b}.${192 + i * 4}.0/22`,
          mapPublicIpOnLaunch: false,
          tags: { Name: `${name}-public-${i}`, 'kubernetes.io/role/elb': '1', ...clusterTag },
        },
        parent,
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-public-${i}`,
        { subnetId: subnet.id, routeTableId: publicRoutes.id },
        parent,
      );
      return subnet;
    });
    this.publicSubnetIds = publicSubnets.map((subnet) => subnet.id);

    // One gateway per zone in prod so losing a zone never cuts the others' egress.
    const natCount = args.natGatewayPerAz ? args.azCount : 1;
    const natGateways = publicSubnets.slice(0, natCount).map((subnet, i) => {
      const eip = new aws.ec2.Eip(
        `${name}-nat-${i}`,
        { domain: 'vpc', tags: { Name: `${name}-nat-${i}` } },
        parent,
      );
      return new aws.ec2.NatGateway(
        `${name}-nat-${i}`,
        { allocationId: eip.id, subnetId: subnet.id, tags: { Name: `${name}-nat-${i}` } },
        { parent: this, dependsOn: [internetGateway] },
      );
    });

    const privateRouteTables: aws.ec2.RouteTable[] = [];
    this.privateSubnetIds = this.availabilityZones.map((zone, i) => {
      const nat = natGateways[args.natGatewayPerAz ? i : 0];
      if (!nat) throw new Error('no NAT gateway for private subnet');
      const routes = new aws.ec2.RouteTable(
        `${name}-private-${i}`,
        { vpcId: vpc.id, tags: { Name: `${name}-private-${i}` } },
        parent,
      );
      // A standalone route, not an inline one: a table with inline routes owns all of its
      // routes and would delete the latency lab's peering routes on the next update.
      new aws.ec2.Route(
        `${name}-private-${i}-egress`,
        { routeTableId: routes.id, destinationCidrBlock: '0.0.0.0/0', natGatewayId: nat.id },
        parent,
      );
      privateRouteTables.push(routes);
      const subnet = new aws.ec2.Subnet(
        `${name}-private-${i}`,
        {
          vpcId: vpc.id,
          availabilityZone: zone,
          cidrBlock: `${a}.${b}.${i * 32}.0/19`,
          tags: {
            Name: `${name}-private-${i}`,
            'kubernetes.io/role/internal-elb': '1',
            ...clusterTag,
          },
        },
        parent,
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-private-${i}`,
        { subnetId: subnet.id, routeTableId: routes.id },
        parent,
      );
      return subnet.id;
    });

    this.privateRouteTableIds = privateRouteTables.map((table) => table.id);

    // Image layers come from S3: the gateway endpoint keeps ECR pulls off the NAT bill.
    new aws.ec2.VpcEndpoint(
      `${name}-s3`,
      {
        vpcId: vpc.id,
        serviceName: `com.amazonaws.${args.region}.s3`,
        vpcEndpointType: 'Gateway',
        routeTableIds: privateRouteTables.map((table) => table.id),
        tags: { Name: `${name}-s3` },
      },
      parent,
    );

    this.registerOutputs({
      vpcId: this.vpcId,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds,
    });
  }
}

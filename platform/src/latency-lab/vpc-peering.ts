import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

export interface PeeredVpc {
  readonly vpcId: pulumi.Input<string>;
  readonly cidrBlock: string;
  /** Every route table whose subnets talk across the peering. */
  readonly routeTableIds: pulumi.Input<string>[];
}

export interface LatencyVpcPeeringArgs {
  /** The client VPC (requester). */
  readonly client: PeeredVpc;
  /** The cluster VPC (accepter). */
  readonly cluster: PeeredVpc;
}

/**
 * VPC peering between the client VPC and the cluster VPC, with a route to the other side in
 * every route table of both: traffic to the lab NLB and ALB crosses it, and the cluster's
 * compare Job reaches the client agent over it.
 */
export class LatencyVpcPeering extends pulumi.ComponentResource {
  readonly connectionId: pulumi.Output<string>;

  constructor(name: string, args: LatencyVpcPeeringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:LatencyVpcPeering', name, {}, opts);
    const parent = { parent: this };
    // One account and one region: the requester may accept its own request.
    const connection = new aws.ec2.VpcPeeringConnection(
      name,
      {
        vpcId: args.client.vpcId,
        peerVpcId: args.cluster.vpcId,
        autoAccept: true,
        tags: { Name: name },
      },
      parent,
    );
    this.connectionId = connection.id;

    const routesTo = (side: string, from: PeeredVpc, to: PeeredVpc) =>
      from.routeTableIds.map(
        (routeTableId, i) =>
          new aws.ec2.Route(
            `${name}-${side}-${i}`,
            {
              routeTableId,
              destinationCidrBlock: to.cidrBlock,
              vpcPeeringConnectionId: connection.id,
            },
            parent,
          ),
      );
    routesTo('to-cluster', args.client, args.cluster);
    routesTo('to-client', args.cluster, args.client);

    this.registerOutputs({ connectionId: this.connectionId });
  }
}

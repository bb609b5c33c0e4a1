import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { LATENCY_SERVER_PORT } from '@gavel/shared';

export interface LatencyPrivateLinkArgs {
  /** The lab NLB the endpoint service publishes. */
  readonly nlbArn: pulumi.Input<string>;
  /** The platform's own account root, the one principal allowed to connect. */
  readonly accountId: pulumi.Input<string>;
  readonly clientVpcId: pulumi.Input<string>;
  readonly clientVpcCidr: string;
  readonly clientSubnetIds: pulumi.Input<string>[];
  /**
   * The endpoint service's private DNS name, a domain the operator verifies by TXT record; the
   * interface endpoint then answers it inside the client VPC. Empty: the endpoint's vpce name.
   */
  readonly privateDnsName: string;
}

/**
 * PrivateLink, as seed 000 measured it: a VPC endpoint service in front of the lab NLB, and an
 * interface endpoint for it in the client VPC that admits exactly the latency port from there.
 */
export class LatencyPrivateLink extends pulumi.ComponentResource {
  readonly serviceName: pulumi.Output<string>;
  /** What a client in the client VPC dials: the private DNS name, else the endpoint's own. */
  readonly endpointDnsName: pulumi.Output<string>;

  constructor(name: string, args: LatencyPrivateLinkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:LatencyPrivateLink', name, {}, opts);
    const parent = { parent: this };
    const port = LATENCY_SERVER_PORT;

    const service = new aws.ec2.VpcEndpointService(
      name,
      {
        networkLoadBalancerArns: [args.nlbArn],
        // Only this account connects, so there is nobody to wait for an acceptance from.
        acceptanceRequired: false,
        allowedPrincipals: [pulumi.interpolate`arn:aws:iam::${args.accountId}:root`],
        ...(args.privateDnsName ? { privateDnsName: args.privateDnsName } : {}),
        tags: { Name: name },
      },
      parent,
    );
    this.serviceName = service.serviceName;

    const group = new aws.ec2.SecurityGroup(
      `${name}-endpoint`,
      {
        vpcId: args.clientVpcId,
        description: `${name} interface endpoint: the latency port from the client VPC`,
      },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-endpoint-from-client`,
      {
        securityGroupId: group.id,
        cidrIpv4: args.clientVpcCidr,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
        description: 'latency port from the client VPC',
      },
      parent,
    );
    const endpoint = new aws.ec2.VpcEndpoint(
      name,
      {
        vpcId: args.clientVpcId,
        serviceName: service.serviceName,
        vpcEndpointType: 'Interface',
        subnetIds: args.clientSubnetIds,
        securityGroupIds: [group.id],
        // Only a verified private DNS name can be answered privately; without one AWS refuses it.
        privateDnsEnabled: args.privateDnsName !== '',
        tags: { Name: name },
      },
      // A private DNS name is usable only once the service's domain is verified.
      { parent: this, dependsOn: [service] },
    );
    this.endpointDnsName = args.privateDnsName
      ? pulumi.output(args.privateDnsName)
      : endpoint.dnsEntries.apply((entries) => {
          // The first entry is the zone-independent (regional) name.
          const first = entries[0]?.dnsName;
          if (!first) throw new Error(`interface endpoint ${name} has no DNS entries`);
          return first;
        });
    this.registerOutputs({ serviceName: this.serviceName, endpointDnsName: this.endpointDnsName });
  }
}

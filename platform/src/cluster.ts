import * as aws from '@pulumi/aws';
import * as eks from '@pulumi/eks';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

export interface ClusterArgs {
  /** Kubernetes minor version, e.g. `1.33`. */
  readonly version: string;
  readonly vpcId: pulumi.Input<string>;
  readonly publicSubnetIds: pulumi.Input<string>[];
  readonly privateSubnetIds: pulumi.Input<string>[];
  /** Who may reach the public API endpoint. */
  readonly publicAccessCidrs: string[];
  /** IAM roles granted cluster-admin through access entries. */
  readonly adminRoleArns: string[];
  readonly logRetentionDays: number;
  readonly deletionProtection: boolean;
}

/** Control-plane log types; all five, because audit and authenticator are what incidents need. */
export const CONTROL_PLANE_LOG_TYPES = ['api', 'audit', 'authenticator', 'controllerManager', 'scheduler'];

const CLUSTER_ADMIN_POLICY = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy';

/**
 * The EKS control plane (@pulumi/eks): access entries only (no aws-auth ConfigMap), an OIDC
 * provider for IRSA, every control-plane log type, and no default node group — the managed node
 * groups come from node-groups.ts.
 */
export class Cluster extends pulumi.ComponentResource {
  readonly name: pulumi.Output<string>;
  readonly endpoint: pulumi.Output<string>;
  readonly kubeconfigJson: pulumi.Output<string>;
  /** The security group every node carries; data stores admit exactly this group. */
  readonly nodeSecurityGroupId: pulumi.Output<string>;
  readonly oidcProviderArn: pulumi.Output<string>;
  /** OIDC issuer without `https://`, the prefix of the IRSA trust conditions. */
  readonly oidcIssuer: pulumi.Output<string>;
  /** Kubernetes provider bound to this cluster. */
  readonly provider: k8s.Provider;

  constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:Cluster', name, {}, opts);

    // EKS writes to this group by name; creating it first lets us own its retention.
    const controlPlaneLogs = new aws.cloudwatch.LogGroup(
      `${name}-control-plane`,
      { name: `/aws/eks/${name}/cluster`, retentionInDays: args.logRetentionDays },
      { parent: this },
    );

    const cluster = new eks.Cluster(
      name,
      {
        name,
        version: args.version,
        vpcId: args.vpcId,
        publicSubnetIds: args.publicSubnetIds,
        privateSubnetIds: args.privateSubnetIds,
        nodeAssociatePublicIpAddress: false,
        endpointPrivateAccess: true,
        endpointPublicAccess: true,
        publicAccessCidrs: args.publicAccessCidrs,
        authenticationMode: eks.AuthenticationMode.Api,
        accessEntries: Object.fromEntries(
          args.adminRoleArns.map((principalArn, i) => [
            `admin-${i}`,
            {
              principalArn,
              accessPolicies: {
                admin: { policyArn: CLUSTER_ADMIN_POLICY, accessScope: { type: 'cluster' } },
              },
            },
          ]),
        ),
        createOidcProvider: true,
        enabledClusterLogTypes: CONTROL_PLANE_LOG_TYPES,
        skipDefaultNodeGroup: true,
        // CoreDNS needs nodes to become ACTIVE; addons.ts installs it after the node groups.
        corednsAddonOptions: { enabled: false },
        deletionProtection: args.deletionProtection,
        tags: { Name: name },
      },
      { parent: this, dependsOn: [controlPlaneLogs] },
    );

    this.name = cluster.eksCluster.name;
    this.endpoint = cluster.eksCluster.endpoint;
    this.kubeconfigJson = pulumi.secret(cluster.kubeconfigJson);
    this.nodeSecurityGroupId = cluster.nodeSecurityGroupId;
    this.oidcProviderArn = cluster.oidcProviderArn;
    this.oidcIssuer = cluster.oidcIssuer;
    this.provider = new k8s.Provider(
      name,
      { kubeconfig: this.kubeconfigJson, enableServerSideApply: true },
      { parent: this },
    );

    this.registerOutputs({ name: this.name, endpoint: this.endpoint });
  }
}

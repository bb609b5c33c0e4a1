import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import loadBalancerControllerPolicy from './policies/aws-load-balancer-controller.json' with { type: 'json' };

/** Where the load balancer controller runs; the Helm release uses the same names. */
export const LOAD_BALANCER_CONTROLLER_SA = {
  namespace: 'kube-system',
  name: 'aws-load-balancer-controller',
};
/** The service account the Container Insights add-on runs its agent as. */
export const CLOUDWATCH_AGENT_SA = { namespace: 'amazon-cloudwatch', name: 'cloudwatch-agent' };
/** The service account of the EBS CSI driver's controller (the add-on's fixed name). */
export const EBS_CSI_CONTROLLER_SA = { namespace: 'kube-system', name: 'ebs-csi-controller-sa' };
/** The service account the Cluster Autoscaler release runs as. */
export const CLUSTER_AUTOSCALER_SA = { namespace: 'kube-system', name: 'cluster-autoscaler' };

/** AWS's managed policy for the EBS CSI driver (create, attach, resize, delete volumes). */
export const EBS_CSI_DRIVER_POLICY = 'arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy';

/**
 * The Cluster Autoscaler's policy: it may resize and trim only the Auto Scaling groups EKS tags
 * as this cluster's (every managed node group's ASG carries the tag), and describe the rest.
 */
export function clusterAutoscalerPolicy(clusterName: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ScaleThisClustersGroups',
        Effect: 'Allow',
        Action: ['autoscaling:SetDesiredCapacity', 'autoscaling:TerminateInstanceInAutoScalingGroup'],
        Resource: '*',
        Condition: {
          StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${clusterName}`]: 'owned' },
        },
      },
      {
        Sid: 'DescribeGroupsAndTypes',
        Effect: 'Allow',
        Action: [
          'autoscaling:DescribeAutoScalingGroups',
          'autoscaling:DescribeAutoScalingInstances',
          'autoscaling:DescribeLaunchConfigurations',
          'autoscaling:DescribeScalingActivities',
          'autoscaling:DescribeTags',
          'ec2:DescribeImages',
          'ec2:DescribeInstanceTypes',
          'ec2:DescribeLaunchTemplateVersions',
          'ec2:GetInstanceTypesFromInstanceRequirements',
          'eks:DescribeNodegroup',
        ],
        Resource: '*',
      },
    ],
  });
}

export interface ServiceAccountRoleArgs {
  readonly oidcProviderArn: pulumi.Input<string>;
  /** Issuer host/path without `https://`. */
  readonly oidcIssuer: pulumi.Input<string>;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** An inline policy document (JSON). */
  readonly policy?: pulumi.Input<string>;
  /** AWS managed policies to attach. @default [] */
  readonly managedPolicyArns?: string[];
}

/**
 * An IAM role for exactly one Kubernetes service account (IRSA): the trust policy pins both the
 * audience and the `system:serviceaccount:<ns>:<name>` subject.
 */
export class ServiceAccountRole extends pulumi.ComponentResource {
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: ServiceAccountRoleArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:ServiceAccountRole', name, {}, opts);
    const trust = pulumi.all([args.oidcProviderArn, args.oidcIssuer]).apply(([providerArn, issuer]) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Federated: providerArn },
            Action: 'sts:AssumeRoleWithWebIdentity',
            Condition: {
              StringEquals: {
                [`${issuer}:aud`]: 'sts.amazonaws.com',
                [`${issuer}:sub`]: `system:serviceaccount:${args.namespace}:${args.serviceAccount}`,
              },
            },
          },
        ],
      }),
    );
    const role = new aws.iam.Role(name, { assumeRolePolicy: trust }, { parent: this });
    if (args.policy) {
      new aws.iam.RolePolicy(name, { role: role.name, policy: args.policy }, { parent: this });
    }
    (args.managedPolicyArns ?? []).forEach(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(`${name}-${i}`, { role: role.name, policyArn }, { parent: this }),
    );
    this.arn = role.arn;
    this.registerOutputs({ arn: this.arn });
  }
}

export interface PlatformRolesArgs {
  readonly oidcProviderArn: pulumi.Input<string>;
  readonly oidcIssuer: pulumi.Input<string>;
  readonly clusterName: pulumi.Input<string>;
  /** Create the role for the Container Insights agent. */
  readonly containerInsights: boolean;
}

/**
 * The IRSA roles, one per add-on that calls AWS: load balancer controller, EBS CSI driver,
 * Cluster Autoscaler, CloudWatch agent. The Gavel services call no AWS API (their secrets are
 * Kubernetes Secrets written by k8s-secrets.ts), so they get no role at all.
 */
export class PlatformRoles extends pulumi.ComponentResource {
  readonly loadBalancerController: ServiceAccountRole;
  readonly ebsCsiDriver: ServiceAccountRole;
  readonly clusterAutoscaler: ServiceAccountRole;
  readonly cloudwatchAgent: ServiceAccountRole | undefined;

  constructor(name: string, args: PlatformRolesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:PlatformRoles', name, {}, opts);
    const oidc = { oidcProviderArn: args.oidcProviderArn, oidcIssuer: args.oidcIssuer };
    const forAccount = (account: { namespace: string; name: string }) => ({
      ...oidc,
      namespace: account.namespace,
      serviceAccount: account.name,
    });

    this.loadBalancerController = new ServiceAccountRole(
      `${name}-lb-controller`,
      { ...forAccount(LOAD_BALANCER_CONTROLLER_SA), policy: JSON.stringify(loadBalancerControllerPolicy) },
      { parent: this },
    );

    this.ebsCsiDriver = new ServiceAccountRole(
      `${name}-ebs-csi`,
      { ...forAccount(EBS_CSI_CONTROLLER_SA), managedPolicyArns: [EBS_CSI_DRIVER_POLICY] },
      { parent: this },
    );

    this.clusterAutoscaler = new ServiceAccountRole(
      `${name}-cluster-autoscaler`,
      {
        ...forAccount(CLUSTER_AUTOSCALER_SA),
        policy: pulumi.output(args.clusterName).apply(clusterAutoscalerPolicy),
      },
      { parent: this },
    );

    this.cloudwatchAgent = args.containerInsights
      ? new ServiceAccountRole(
          `${name}-cloudwatch-agent`,
          {
            ...forAccount(CLOUDWATCH_AGENT_SA),
            managedPolicyArns: ['arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy'],
          },
          { parent: this },
        )
      : undefined;

    this.registerOutputs({});
  }
}

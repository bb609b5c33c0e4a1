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
  /** Namespace and service account the Gavel services run as. */
  readonly servicesNamespace: string;
  readonly servicesServiceAccount: string;
  /** The only secrets the services may read. */
  readonly readableSecretArns: pulumi.Input<string>[];
  /** Create the role for the Container Insights agent. */
  readonly containerInsights: boolean;
}

/** The IRSA roles: load balancer controller, Gavel services (read their secrets), CloudWatch agent. */
export class PlatformRoles extends pulumi.ComponentResource {
  readonly loadBalancerController: ServiceAccountRole;
  readonly services: ServiceAccountRole;
  readonly cloudwatchAgent: ServiceAccountRole | undefined;

  constructor(name: string, args: PlatformRolesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:PlatformRoles', name, {}, opts);
    const oidc = { oidcProviderArn: args.oidcProviderArn, oidcIssuer: args.oidcIssuer };

    this.loadBalancerController = new ServiceAccountRole(
      `${name}-lb-controller`,
      {
        ...oidc,
        namespace: LOAD_BALANCER_CONTROLLER_SA.namespace,
        serviceAccount: LOAD_BALANCER_CONTROLLER_SA.name,
        policy: JSON.stringify(loadBalancerControllerPolicy),
      },
      { parent: this },
    );

    this.services = new ServiceAccountRole(
      `${name}-services`,
      {
        ...oidc,
        namespace: args.servicesNamespace,
        serviceAccount: args.servicesServiceAccount,
        policy: pulumi.output(args.readableSecretArns).apply((arns) =>
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'ReadGavelSecrets',
                Effect: 'Allow',
                Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
                Resource: arns,
              },
            ],
          }),
        ),
      },
      { parent: this },
    );

    this.cloudwatchAgent = args.containerInsights
      ? new ServiceAccountRole(
          `${name}-cloudwatch-agent`,
          {
            ...oidc,
            namespace: CLOUDWATCH_AGENT_SA.namespace,
            serviceAccount: CLOUDWATCH_AGENT_SA.name,
            managedPolicyArns: ['arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy'],
          },
          { parent: this },
        )
      : undefined;

    this.registerOutputs({});
  }
}

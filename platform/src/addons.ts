import * as aws from '@pulumi/aws';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { GENERAL_POOL, POOL_LABEL_KEY } from '@gavel/shared';
import { LOAD_BALANCER_CONTROLLER_SA } from './iam.js';

/** Chart versions, pinned so an `up` never upgrades an add-on by surprise. */
export const CHARTS = {
  awsLoadBalancerController: { repo: 'https://aws.github.io/eks-charts', version: '1.13.0' },
  metricsServer: { repo: 'https://kubernetes-sigs.github.io/metrics-server/', version: '3.12.2' },
  keda: { repo: 'https://kedacore.github.io/charts', version: '2.17.0' },
};

export interface AddonsArgs {
  readonly clusterName: pulumi.Input<string>;
  readonly region: string;
  readonly vpcId: pulumi.Input<string>;
  readonly provider: k8s.Provider;
  /** The add-ons need somewhere to run: they wait for these node groups. */
  readonly nodeGroups: pulumi.Resource[];
  readonly loadBalancerControllerRoleArn: pulumi.Input<string>;
  /** Role for the Container Insights agent; without it the add-on is not installed. */
  readonly cloudwatchAgentRoleArn?: pulumi.Input<string>;
  /** Install KEDA. @default false */
  readonly keda?: boolean;
}

/**
 * What the charts-ts manifests need in the cluster: CoreDNS, the AWS Load Balancer Controller
 * (Ingress → ALB, Service → NLB), metrics-server (HPAs), optionally KEDA, and Container
 * Insights for the node health alarm. System pods run on the general pool.
 */
export class Addons extends pulumi.ComponentResource {
  constructor(name: string, args: AddonsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:Addons', name, {}, opts);
    const afterNodes = { parent: this, dependsOn: args.nodeGroups };
    const onCluster = { ...afterNodes, provider: args.provider };
    const onGeneralPool = { nodeSelector: { [POOL_LABEL_KEY]: GENERAL_POOL } };

    new aws.eks.Addon(
      `${name}-coredns`,
      {
        clusterName: args.clusterName,
        addonName: 'coredns',
        resolveConflictsOnCreate: 'OVERWRITE',
        resolveConflictsOnUpdate: 'PRESERVE',
      },
      afterNodes,
    );

    if (args.cloudwatchAgentRoleArn) {
      new aws.eks.Addon(
        `${name}-container-insights`,
        {
          clusterName: args.clusterName,
          addonName: 'amazon-cloudwatch-observability',
          serviceAccountRoleArn: args.cloudwatchAgentRoleArn,
          resolveConflictsOnCreate: 'OVERWRITE',
          resolveConflictsOnUpdate: 'PRESERVE',
        },
        afterNodes,
      );
    }

    new k8s.helm.v3.Release(
      `${name}-aws-load-balancer-controller`,
      {
        name: 'aws-load-balancer-controller',
        chart: 'aws-load-balancer-controller',
        version: CHARTS.awsLoadBalancerController.version,
        repositoryOpts: { repo: CHARTS.awsLoadBalancerController.repo },
        namespace: LOAD_BALANCER_CONTROLLER_SA.namespace,
        values: {
          clusterName: args.clusterName,
          // IMDS is closed to pods (hop limit 1), so the controller is told where it runs.
          region: args.region,
          vpcId: args.vpcId,
          replicaCount: 2,
          serviceAccount: {
            create: true,
            name: LOAD_BALANCER_CONTROLLER_SA.name,
            annotations: { 'eks.amazonaws.com/role-arn': args.loadBalancerControllerRoleArn },
          },
          ...onGeneralPool,
        },
      },
      onCluster,
    );

    new k8s.helm.v3.Release(
      `${name}-metrics-server`,
      {
        name: 'metrics-server',
        chart: 'metrics-server',
        version: CHARTS.metricsServer.version,
        repositoryOpts: { repo: CHARTS.metricsServer.repo },
        namespace: 'kube-system',
        values: { ...onGeneralPool },
      },
      onCluster,
    );

    if (args.keda) {
      new k8s.helm.v3.Release(
        `${name}-keda`,
        {
          name: 'keda',
          chart: 'keda',
          version: CHARTS.keda.version,
          repositoryOpts: { repo: CHARTS.keda.repo },
          namespace: 'keda',
          createNamespace: true,
          values: { ...onGeneralPool },
        },
        onCluster,
      );
    }

    this.registerOutputs({});
  }
}

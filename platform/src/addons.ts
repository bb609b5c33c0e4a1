import * as aws from '@pulumi/aws';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { GENERAL_POOL, POOL_LABEL_KEY } from '@gavel/shared';
import { CLUSTER_AUTOSCALER_SA, LOAD_BALANCER_CONTROLLER_SA } from './iam.js';

/** Chart versions, pinned so an `up` never upgrades an add-on by surprise. */
export const CHARTS = {
  awsLoadBalancerController: { repo: 'https://aws.github.io/eks-charts', version: '1.13.0' },
  metricsServer: { repo: 'https://kubernetes-sigs.github.io/metrics-server/', version: '3.12.2' },
  clusterAutoscaler: { repo: 'https://kubernetes.github.io/autoscaler', version: '9.46.6' },
  keda: { repo: 'https://kedacore.github.io/charts', version: '2.17.0' },
};

/** The autoscaler's minor must match the cluster's (its own compatibility rule). */
export const CLUSTER_AUTOSCALER_IMAGE_TAG = 'v1.33.0';

/** The one StorageClass the manifests' volume claims name (platformOutputs.storageClassName). */
export const STORAGE_CLASS = 'gp3-encrypted';

export interface AddonsArgs {
  readonly clusterName: pulumi.Input<string>;
  readonly region: string;
  readonly vpcId: pulumi.Input<string>;
  readonly provider: k8s.Provider;
  /** The add-ons need somewhere to run: they wait for these node groups. */
  readonly nodeGroups: pulumi.Resource[];
  readonly loadBalancerControllerRoleArn: pulumi.Input<string>;
  readonly ebsCsiDriverRoleArn: pulumi.Input<string>;
  readonly clusterAutoscalerRoleArn: pulumi.Input<string>;
  /**
   * What the StorageClass does with a volume whose claim is deleted: Retain keeps JetStream's
   * data (and its bill) until someone deletes it on purpose.
   */
  readonly volumeReclaimPolicy: 'Delete' | 'Retain';
  /** Role for the Container Insights agent; without it the add-on is not installed. */
  readonly cloudwatchAgentRoleArn?: pulumi.Input<string>;
  /** Install KEDA. @default false */
  readonly keda?: boolean;
}

/**
 * What the charts-ts manifests need in the cluster: the VPC CNI with its network policy agent
 * on (the manifests' NetworkPolicies are enforced), CoreDNS, the EBS CSI driver and its gp3
 * StorageClass (NATS volumes), the AWS Load Balancer Controller (Ingress → ALB, Service → NLB),
 * metrics-server (HPAs), the Cluster Autoscaler (the general pool grows with the HPAs),
 * optionally KEDA, and Container Insights for the node health alarm. System pods run on the
 * general pool.
 */
export class Addons extends pulumi.ComponentResource {
  constructor(name: string, args: AddonsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:Addons', name, {}, opts);
    const afterNodes = { parent: this, dependsOn: args.nodeGroups };
    const onCluster = { ...afterNodes, provider: args.provider };
    const onGeneralPool = { nodeSelector: { [POOL_LABEL_KEY]: GENERAL_POOL } };
    const addonConflicts = {
      resolveConflictsOnCreate: 'OVERWRITE',
      resolveConflictsOnUpdate: 'PRESERVE',
    } as const;

    // EKS installs the VPC CNI itself; taking it over as an add-on is how its network policy
    // agent is turned on. Without it every NetworkPolicy is accepted and silently ignored.
    new aws.eks.Addon(
      `${name}-vpc-cni`,
      {
        clusterName: args.clusterName,
        addonName: 'vpc-cni',
        configurationValues: JSON.stringify({ enableNetworkPolicy: 'true' }),
        ...addonConflicts,
      },
      { parent: this },
    );

    new aws.eks.Addon(
      `${name}-coredns`,
      {
        clusterName: args.clusterName,
        addonName: 'coredns',
        ...addonConflicts,
      },
      afterNodes,
    );

    const ebsCsiDriver = new aws.eks.Addon(
      `${name}-ebs-csi-driver`,
      {
        clusterName: args.clusterName,
        addonName: 'aws-ebs-csi-driver',
        serviceAccountRoleArn: args.ebsCsiDriverRoleArn,
        configurationValues: JSON.stringify({ controller: { ...onGeneralPool } }),
        ...addonConflicts,
      },
      afterNodes,
    );
    // Zonal volumes are created where the pod is scheduled (WaitForFirstConsumer), so a zone
    // spread of the StatefulSet decides the zones, not the provisioner.
    new k8s.storage.v1.StorageClass(
      `${name}-${STORAGE_CLASS}`,
      {
        metadata: {
          name: STORAGE_CLASS,
          annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
        },
        provisioner: 'ebs.csi.aws.com',
        parameters: { type: 'gp3', encrypted: 'true', 'csi.storage.k8s.io/fstype': 'ext4' },
        volumeBindingMode: 'WaitForFirstConsumer',
        allowVolumeExpansion: true,
        reclaimPolicy: args.volumeReclaimPolicy,
      },
      { ...onCluster, dependsOn: [ebsCsiDriver] },
    );

    if (args.cloudwatchAgentRoleArn) {
      new aws.eks.Addon(
        `${name}-container-insights`,
        {
          clusterName: args.clusterName,
          addonName: 'amazon-cloudwatch-observability',
          serviceAccountRoleArn: args.cloudwatchAgentRoleArn,
          ...addonConflicts,
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
          // The chart sets no requests; without them the scheduler counts the pods as free.
          resources: { requests: { cpu: '100m', memory: '128Mi' } },
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

    new k8s.helm.v3.Release(
      `${name}-cluster-autoscaler`,
      {
        name: 'cluster-autoscaler',
        chart: 'cluster-autoscaler',
        version: CHARTS.clusterAutoscaler.version,
        repositoryOpts: { repo: CHARTS.clusterAutoscaler.repo },
        namespace: CLUSTER_AUTOSCALER_SA.namespace,
        values: {
          cloudProvider: 'aws',
          awsRegion: args.region,
          // Finds every managed node group of the cluster by the tags EKS puts on its ASG; the
          // fixed-size latency pools (min = max) are found too and never resized.
          autoDiscovery: { clusterName: args.clusterName },
          image: { tag: CLUSTER_AUTOSCALER_IMAGE_TAG },
          extraArgs: {
            'balance-similar-node-groups': true,
            expander: 'least-waste',
            'skip-nodes-with-local-storage': false,
          },
          resources: { requests: { cpu: '100m', memory: '300Mi' } },
          rbac: {
            serviceAccount: {
              create: true,
              name: CLUSTER_AUTOSCALER_SA.name,
              annotations: { 'eks.amazonaws.com/role-arn': args.clusterAutoscalerRoleArn },
            },
          },
          ...onGeneralPool,
        },
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

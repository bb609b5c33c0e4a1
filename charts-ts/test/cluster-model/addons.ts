import type { PlatformView } from './platform-view.js';
import { podShape, type Json, type Toleration, type Workload } from './workloads.js';

/**
 * What each add-on the platform installs runs in the cluster: its pods (with the requests of
 * its chart or add-on defaults, unless the platform's values override them), the
 * ServiceAccounts it creates and runs as, the namespaces it creates, what it provides. An
 * add-on the model does not know fails the model, so a new one is described here before the
 * fit checks can pass.
 */

export interface RoleBinding {
  /** `namespace/name`. */
  readonly serviceAccount: string;
  readonly roleArn: string;
  /** Where the binding is declared, for messages. */
  readonly via: string;
}

export interface SystemView {
  readonly workloads: readonly Workload[];
  /** `namespace/name` of ServiceAccounts the add-ons create, each used by the add-on's pods. */
  readonly serviceAccounts: ReadonlySet<string>;
  readonly namespaces: ReadonlySet<string>;
  /** CSI provisioner name → the ServiceAccount its controller calls AWS as. */
  readonly csiDrivers: ReadonlyMap<string, string>;
  readonly roleBindings: readonly RoleBinding[];
  /** Ingress classes and Service load balancer types a controller serves. */
  readonly ingressClasses: ReadonlySet<string>;
  readonly loadBalancerController: boolean;
  readonly autoscaler?: string;
  /** Labels and namespace of the cluster DNS pods. */
  readonly dns?: { readonly namespace: string; readonly labels: Readonly<Record<string, string>> };
}

const TOLERATE_ALL: Toleration[] = [{ operator: 'Exists' }];
const CRITICAL_ADDONS: Toleration[] = [{ key: 'CriticalAddonsOnly', operator: 'Exists' }];

interface SystemPod {
  readonly kind: 'Deployment' | 'DaemonSet';
  readonly namespace: string;
  readonly name: string;
  readonly replicas?: number;
  readonly cpu: string;
  readonly memory: string;
  readonly nodeSelector?: Json;
  readonly tolerations?: Toleration[];
  readonly labels?: Record<string, string>;
  readonly serviceAccount: string;
}

function systemWorkload(p: SystemPod): Workload {
  const labels = p.labels ?? { 'app.kubernetes.io/name': p.name };
  const spec = {
    serviceAccountName: p.serviceAccount,
    nodeSelector: p.nodeSelector ?? {},
    tolerations: p.tolerations ?? [],
    containers: [{ name: p.name, resources: { requests: { cpu: p.cpu, memory: p.memory } } }],
  };
  const replicas = p.replicas ?? 1;
  return {
    ref: `${p.kind} ${p.namespace}/${p.name}`,
    kind: p.kind,
    namespace: p.namespace,
    name: p.name,
    pod: podShape(spec, labels),
    spec,
    labels,
    minReplicas: replicas,
    maxReplicas: replicas,
    daemonSet: p.kind === 'DaemonSet',
  };
}

const requests = (values: Json, cpu: string, memory: string) => ({
  cpu: String(values?.resources?.requests?.cpu ?? cpu),
  memory: String(values?.resources?.requests?.memory ?? memory),
});

export function systemView(platform: PlatformView): SystemView {
  const workloads: Workload[] = [];
  const serviceAccounts = new Set<string>();
  const namespaces = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
  const csiDrivers = new Map<string, string>();
  const roleBindings: RoleBinding[] = [];
  const ingressClasses = new Set<string>();
  let loadBalancerController = false;
  let autoscaler: string | undefined;
  let dns: SystemView['dns'];
  const add = (p: SystemPod) => {
    workloads.push(systemWorkload(p));
    serviceAccounts.add(`${p.namespace}/${p.serviceAccount}`);
  };

  // On every EKS node whatever the add-ons: kube-proxy and the VPC CNI's aws-node.
  add({
    kind: 'DaemonSet',
    namespace: 'kube-system',
    name: 'kube-proxy',
    cpu: '100m',
    memory: '0',
    tolerations: TOLERATE_ALL,
    serviceAccount: 'kube-proxy',
  });
  add({
    kind: 'DaemonSet',
    namespace: 'kube-system',
    name: 'aws-node',
    cpu: '25m',
    memory: '0',
    tolerations: TOLERATE_ALL,
    serviceAccount: 'aws-node',
  });

  for (const addon of platform.addons) {
    const bind = (sa: string) => {
      if (addon.serviceAccountRoleArn)
        roleBindings.push({
          serviceAccount: sa,
          roleArn: addon.serviceAccountRoleArn,
          via: `EKS add-on ${addon.name}`,
        });
    };
    const config = addon.configuration ?? {};
    switch (addon.name) {
      case 'vpc-cni':
        bind('kube-system/aws-node');
        break;
      case 'kube-proxy':
        break;
      case 'coredns':
        dns = { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } };
        add({
          kind: 'Deployment',
          namespace: 'kube-system',
          name: 'coredns',
          replicas: config.replicaCount ?? 2,
          ...requests(config, '100m', '70Mi'),
          nodeSelector: config.nodeSelector,
          labels: dns.labels,
          tolerations: [...CRITICAL_ADDONS, ...(config.tolerations ?? [])],
          serviceAccount: 'coredns',
        });
        break;
      case 'aws-ebs-csi-driver':
        csiDrivers.set('ebs.csi.aws.com', 'kube-system/ebs-csi-controller-sa');
        bind('kube-system/ebs-csi-controller-sa');
        // Six containers of 10m/40Mi each in the controller, three in the node plugin.
        add({
          kind: 'Deployment',
          namespace: 'kube-system',
          name: 'ebs-csi-controller',
          replicas: config.controller?.replicaCount ?? 2,
          cpu: '60m',
          memory: '240Mi',
          nodeSelector: config.controller?.nodeSelector,
          tolerations: [...CRITICAL_ADDONS, ...(config.controller?.tolerations ?? [])],
          serviceAccount: 'ebs-csi-controller-sa',
        });
        add({
          kind: 'DaemonSet',
          namespace: 'kube-system',
          name: 'ebs-csi-node',
          cpu: '30m',
          memory: '120Mi',
          tolerations: TOLERATE_ALL,
          serviceAccount: 'ebs-csi-node-sa',
        });
        break;
      case 'amazon-cloudwatch-observability':
        namespaces.add('amazon-cloudwatch');
        bind('amazon-cloudwatch/cloudwatch-agent');
        add({
          kind: 'Deployment',
          namespace: 'amazon-cloudwatch',
          name: 'amazon-cloudwatch-observability-controller-manager',
          cpu: '100m',
          memory: '64Mi',
          serviceAccount: 'amazon-cloudwatch-observability-controller-manager',
        });
        add({
          kind: 'DaemonSet',
          namespace: 'amazon-cloudwatch',
          name: 'cloudwatch-agent',
          cpu: '250m',
          memory: '128Mi',
          tolerations: TOLERATE_ALL,
          serviceAccount: 'cloudwatch-agent',
        });
        add({
          kind: 'DaemonSet',
          namespace: 'amazon-cloudwatch',
          name: 'fluent-bit',
          cpu: '50m',
          memory: '25Mi',
          tolerations: TOLERATE_ALL,
          serviceAccount: 'cloudwatch-agent',
        });
        break;
      case 'eks-pod-identity-agent':
        add({
          kind: 'DaemonSet',
          namespace: 'kube-system',
          name: 'eks-pod-identity-agent',
          cpu: '25m',
          memory: '0',
          tolerations: TOLERATE_ALL,
          serviceAccount: 'eks-pod-identity-agent',
        });
        break;
      default:
        throw new Error(`the cluster model does not know EKS add-on ${addon.name}; describe it in addons.ts`);
    }
  }

  for (const release of platform.releases) {
    const v = release.values ?? {};
    const ns = release.namespace;
    if (release.createNamespace) namespaces.add(ns);
    const annotatedRole = (sa: Json) => sa?.annotations?.['eks.amazonaws.com/role-arn'] as string | undefined;
    /** The release's one Deployment, with the chart's default requests unless the values set them. */
    const chartDeployment = (
      serviceAccount: string,
      replicas: number,
      cpu: string,
      memory: string,
    ): SystemPod => ({
      kind: 'Deployment',
      namespace: ns,
      name: release.name,
      replicas,
      ...requests(v, cpu, memory),
      nodeSelector: v.nodeSelector,
      tolerations: v.tolerations,
      serviceAccount,
    });
    const bindAnnotated = (saName: string, sa: Json) => {
      const roleArn = annotatedRole(sa);
      if (roleArn)
        roleBindings.push({
          serviceAccount: `${ns}/${saName}`,
          roleArn,
          via: `Helm release ${release.name}`,
        });
    };
    switch (release.chart) {
      case 'aws-load-balancer-controller': {
        loadBalancerController = true;
        ingressClasses.add(v.ingressClass ?? 'alb');
        const sa = v.serviceAccount?.name ?? 'aws-load-balancer-controller';
        bindAnnotated(sa, v.serviceAccount);
        add(chartDeployment(sa, v.replicaCount ?? 2, '0', '0'));
        break;
      }
      case 'metrics-server':
        add(chartDeployment(v.serviceAccount?.name ?? 'metrics-server', v.replicas ?? 1, '100m', '200Mi'));
        break;
      case 'cluster-autoscaler': {
        autoscaler = `Helm release ${ns}/${release.name}`;
        const sa = v.rbac?.serviceAccount?.name ?? `${release.name}-aws-cluster-autoscaler`;
        bindAnnotated(sa, v.rbac?.serviceAccount);
        add(chartDeployment(sa, v.replicaCount ?? 1, '0', '0'));
        break;
      }
      case 'keda':
        for (const name of ['keda-operator', 'keda-operator-metrics-apiserver', 'keda-admission-webhooks']) {
          add({
            kind: 'Deployment',
            namespace: ns,
            name,
            cpu: '100m',
            memory: '100Mi',
            nodeSelector: v.nodeSelector,
            serviceAccount: name,
          });
        }
        break;
      default:
        throw new Error(
          `the cluster model does not know Helm chart ${release.chart}; describe it in addons.ts`,
        );
    }
  }

  return {
    workloads,
    serviceAccounts,
    namespaces,
    csiDrivers,
    roleBindings,
    ingressClasses,
    loadBalancerController,
    ...(autoscaler ? { autoscaler } : {}),
    ...(dns ? { dns } : {}),
  };
}

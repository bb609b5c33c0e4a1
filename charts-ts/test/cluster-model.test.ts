import { beforeAll, describe, expect, it } from 'vitest';
import { apiEnv } from '../../services/api/src/config.js';
import { archivalEnv } from '../../services/archival/src/config.js';
import { broadcastEnv } from '../../services/broadcast/src/config.js';
import { echoServerEnv } from '../../services/latency/src/server/config.js';
import { CHECKS, serviceEnvironment, type ClusterModel } from './cluster-model/checks.js';
import { clusterModel, LATENCY_LAB_CONFIG } from './cluster-model/model.js';

/**
 * The cluster model: the platform program of each stack (under Pulumi mocks) together with the
 * eks manifests synthesized from its outputs, checked for what each layer assumes of the other.
 * A failure names the object and the missing counterpart, as `kubectl describe` would.
 */
describe.each([
  ['dev', '', {}],
  ['prod', '', {}],
  ['dev', ' with the latency lab', LATENCY_LAB_CONFIG],
  ['prod', ' with the latency lab', LATENCY_LAB_CONFIG],
])('cluster model: %s stack%s', (stack, _lab, config) => {
  let model: ClusterModel;
  beforeAll(async () => {
    model = await clusterModel(stack, config);
  }, 120_000);

  const broadcast = Object.keys(broadcastEnv);
  const checks = {
    ...CHECKS,
    serviceEnvironment: serviceEnvironment({
      api: Object.keys(apiEnv),
      'broadcast-blue': broadcast,
      'broadcast-green': broadcast,
      archival: Object.keys(archivalEnv),
      'latency-server': Object.keys(echoServerEnv),
    }),
  };
  for (const [name, check] of Object.entries(checks)) {
    it(name, () => {
      expect(check(model)).toEqual([]);
    });
  }
});

/** Each check against a copy of the dev model with one counterpart taken away: it must say so. */
describe('cluster model: every check can fail', () => {
  let good: ClusterModel;
  beforeAll(async () => {
    good = await clusterModel('dev');
  }, 120_000);
  // The model is plain data (Maps and Sets included): a structured clone is a deep copy.
  const broken = (change: (m: Mutable) => void): ClusterModel => {
    const copy = structuredClone(good) as unknown as Mutable;
    change(copy);
    return copy as unknown as ClusterModel;
  };
  const workload = (m: Mutable, kind: string, name: string) =>
    m.manifests.find((o: Mutable) => o.kind === kind && o.metadata.name === name)!;
  const envs = {
    archival: Object.keys(archivalEnv),
    api: Object.keys(apiEnv),
  };

  it.each([
    [
      'storage',
      CHECKS.storage,
      (m: Mutable) =>
        (m.platform.objects = m.platform.objects.filter((o: Mutable) => o.kind !== 'StorageClass')),
      /names StorageClass gp3-encrypted, which neither the manifests nor the platform create/,
    ],
    [
      'networkPolicies',
      CHECKS.networkPolicies,
      (m: Mutable) => (m.platform.addons = m.platform.addons.filter((a: Mutable) => a.name !== 'vpc-cni')),
      /silently ignored: the VPC CNI's network policy agent is off/,
    ],
    [
      'fit',
      CHECKS.fit,
      (m: Mutable) => {
        delete m.system.autoscaler;
        for (const g of m.platform.nodeGroups) g.minSize = 1;
      },
      /stays Pending on .*no cluster autoscaler is installed/,
    ],
    [
      'spread',
      CHECKS.spread,
      (m: Mutable) => {
        workload(m, 'HorizontalPodAutoscaler', 'latency-server').spec.maxReplicas = 3;
      },
      /may scale Deployment gavel\/latency-server to 3 replicas, but its pods need one node each/,
    ],
    [
      'identities',
      CHECKS.identities,
      (m: Mutable) => {
        m.system.serviceAccounts.delete('kube-system/ebs-csi-controller-sa');
      },
      /trusts ServiceAccount kube-system\/ebs-csi-controller-sa, which no manifest, platform object or add-on creates/,
    ],
    [
      'configReferences',
      CHECKS.configReferences,
      (m: Mutable) =>
        (m.platform.objects = m.platform.objects.filter((o: Mutable) => o.metadata.name !== 'rds-ca-bundle')),
      /reads ConfigMap gavel\/rds-ca-bundle \(volume rds-ca-bundle\), which neither the manifests nor the platform create/,
    ],
    [
      'images',
      CHECKS.images,
      (m: Mutable) =>
        (m.platform.ecrRepositories = m.platform.ecrRepositories.map((r: Mutable) => ({
          ...r,
          immutable: false,
        }))),
      /has MUTABLE tags/,
    ],
    [
      'loadBalancers',
      CHECKS.loadBalancers,
      (m: Mutable) => {
        const ns = m.platform.objects.find(
          (o: Mutable) => o.kind === 'Namespace' && o.metadata.name === 'gavel',
        )!;
        delete ns.metadata.labels['elbv2.k8s.aws/pod-readiness-gate-inject'];
      },
      /lacks the label elbv2.k8s.aws\/pod-readiness-gate-inject: enabled/,
    ],
    [
      'natsZones',
      CHECKS.natsZones,
      (m: Mutable) => {
        delete workload(m, 'StatefulSet', 'nats').spec.template.spec.topologySpreadConstraints;
      },
      /has no topology spread over topology.kubernetes.io\/zone/,
    ],
    [
      'latencyServer',
      CHECKS.latencyServer,
      (m: Mutable) => {
        for (const g of m.platform.nodeGroups) g.kubelet = {};
      },
      /runs the kubelet with cpuManagerPolicy none/,
    ],
    [
      'serviceEnvironment',
      serviceEnvironment(envs),
      (m: Mutable) => {
        workload(m, 'Deployment', 'archival').spec.template.spec.containers[0].env.push({
          name: 'REDIS_URL',
          value: 'redis://x',
        });
      },
      /Deployment gavel\/archival is given REDIS_URL, which its service never reads/,
    ],
  ] as const)('%s', (_name, check, change, message) => {
    expect(check(good)).toEqual([]);
    expect(check(broken(change)).join('\n')).toMatch(message);
  });
});

/** The lab check against a copy of a dev model with the lab on, one counterpart taken away. */
describe('cluster model: the latency lab check can fail', () => {
  let good: ClusterModel;
  beforeAll(async () => {
    good = await clusterModel('dev', LATENCY_LAB_CONFIG);
  }, 120_000);
  const broken = (change: (m: Mutable) => void): ClusterModel => {
    const copy = structuredClone(good) as unknown as Mutable;
    change(copy);
    return copy as unknown as ClusterModel;
  };
  const binding = (m: Mutable): Mutable => m.manifests.find((o: Mutable) => o.kind === 'TargetGroupBinding');

  it.each([
    [
      'a binding to a target group the platform lacks',
      (m: Mutable) => {
        binding(m).spec.targetGroupARN = 'arn:aws:elasticloadbalancing:x:1:targetgroup/gone/1';
      },
      /^(?=[\s\S]*names target group arn:aws:elasticloadbalancing:x:1:targetgroup\/gone\/1, which the platform does not create)(?=[\s\S]*has no TargetGroupBinding)/,
    ],
    [
      'a binding to a Service port that does not exist',
      (m: Mutable) => {
        binding(m).spec.serviceRef.port = 9999;
      },
      /binds Service gavel\/latency-server port 9999, which the manifests do not have/,
    ],
    [
      'a lab path naming a Service that is not there',
      (m: Mutable) =>
        (m.manifests = m.manifests.filter((o: Mutable) => o.metadata.name !== 'latency-server-pods')),
      /path pod-ip dials latency-server-pods\.gavel\.svc\.cluster\.local, a Service the manifests do not create/,
    ],
    [
      'a compare Job reading other paths',
      (m: Mutable) => {
        const cm = m.manifests.find((o: Mutable) => o.metadata.name === 'latency-lab-targets');
        const lab = JSON.parse(cm.data['targets.json']);
        lab.targets.pop();
        cm.data['targets.json'] = JSON.stringify(lab);
      },
      /ConfigMap latency-lab-targets does not hold the platform outputs latencyLab block/,
    ],
  ] as const)('%s', (_name, change, message) => {
    expect(CHECKS.latencyLab(good)).toEqual([]);
    expect(CHECKS.latencyLab(broken(change)).join('\n')).toMatch(message);
  });
});

// Tests reach into the model's data to break it; the model's own types are read-only.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Mutable = any;

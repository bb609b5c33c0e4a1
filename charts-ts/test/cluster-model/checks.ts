import type { PlatformView } from './platform-view.js';
import type { SystemView } from './addons.js';
import { buildNodes, schedule, type Unscheduled } from './scheduler.js';
import {
  containersOf,
  cpuMillis,
  manifestWorkloads,
  memoryMi,
  selectsNode,
  tolerates,
  type Json,
  type Workload,
} from './workloads.js';

/**
 * The checks of the cluster model: what the manifests assume of the cluster the platform
 * builds, and what the platform assumes of the manifests. Each returns the problems it finds,
 * worded the way `kubectl describe` (or the AWS console) would have told an operator.
 */

export interface ClusterModel {
  readonly platform: PlatformView;
  readonly system: SystemView;
  /** The synthesized eks manifests. */
  readonly manifests: readonly Json[];
}

type Check = (model: ClusterModel) => string[];

const key = (kind: string, namespace: string | undefined, name: string) =>
  `${kind} ${namespace ?? 'default'}/${name}`;

function objectsOf(model: ClusterModel): Map<string, Json> {
  const all = [...model.platform.objects, ...model.manifests];
  return new Map(
    all.map((o) => [
      key(
        o.kind,
        o.kind === 'Namespace' || o.kind === 'StorageClass' ? undefined : o.metadata.namespace,
        o.metadata.name,
      ),
      o,
    ]),
  );
}

/** Workloads of the manifests and of the platform's own Kubernetes objects (its Jobs). */
export function appWorkloads(model: ClusterModel): Workload[] {
  return [...manifestWorkloads(model.manifests), ...manifestWorkloads(model.platform.objects)];
}

function namespaces(model: ClusterModel): Map<string, Record<string, string>> {
  const result = new Map<string, Record<string, string>>();
  for (const ns of model.system.namespaces) result.set(ns, {});
  for (const o of [...model.platform.objects, ...model.manifests].filter((x) => x.kind === 'Namespace')) {
    result.set(o.metadata.name, { ...(result.get(o.metadata.name) ?? {}), ...(o.metadata.labels ?? {}) });
  }
  return result;
}

const matchesLabels = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

// ---------------------------------------------------------------------------------------------

/** Every volume claim names a StorageClass that exists, whose provisioner is installed with credentials. */
export const storage: Check = (model) => {
  const problems: string[] = [];
  const objects = objectsOf(model);
  const classes = [...objects.values()].filter((o) => o.kind === 'StorageClass');
  const defaultClass = classes.find(
    (c) => c.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true',
  );
  const claims = model.manifests.flatMap((o) =>
    o.kind === 'StatefulSet'
      ? (o.spec.volumeClaimTemplates ?? []).map((t: Json) => ({
          owner: key(o.kind, o.metadata.namespace, o.metadata.name),
          claim: t,
        }))
      : o.kind === 'PersistentVolumeClaim'
        ? [{ owner: key(o.kind, o.metadata.namespace, o.metadata.name), claim: o }]
        : [],
  );
  for (const { owner, claim } of claims) {
    const className: string | undefined = claim.spec.storageClassName ?? defaultClass?.metadata.name;
    const where = `${owner} claim ${claim.metadata.name}`;
    if (!className) {
      problems.push(
        `${where} names no StorageClass and the cluster has no default StorageClass: the PersistentVolumeClaims stay Pending (no persistent volumes available for this claim and no storage class is set)`,
      );
      continue;
    }
    const sc = objects.get(key('StorageClass', undefined, className));
    if (!sc) {
      problems.push(
        `${where} names StorageClass ${className}, which neither the manifests nor the platform create`,
      );
      continue;
    }
    const sa = model.system.csiDrivers.get(sc.provisioner);
    if (!sa) {
      problems.push(
        `StorageClass ${className} (used by ${where}) provisions with ${sc.provisioner}, which no installed add-on provides: claims wait for a provisioner that never comes`,
      );
      continue;
    }
    const bound = bindingsOf(model).filter((b) => b.serviceAccount === sa);
    const roles = bound
      .map((b) => model.platform.roles.find((r) => r.arn === b.roleArn))
      .filter((r) => r !== undefined);
    if (
      !roles.some(
        (r) =>
          r.trustedServiceAccounts.includes(sa) &&
          (r.managedPolicyArns.length > 0 || r.inlinePolicies.length > 0),
      )
    ) {
      problems.push(
        `StorageClass ${className} provisions with ${sc.provisioner}, whose controller (ServiceAccount ${sa}) has no IAM role that trusts it and allows it to create volumes: CreateVolume fails with AccessDenied`,
      );
    }
    if (sc.volumeBindingMode !== 'WaitForFirstConsumer') {
      problems.push(
        `StorageClass ${className} binds Immediate: a zonal EBS volume may be created in a zone where ${owner} cannot be scheduled (use WaitForFirstConsumer)`,
      );
    }
  }
  return problems;
};

// ---------------------------------------------------------------------------------------------

const vpcCniEnforces = (model: ClusterModel) => {
  const addon = model.platform.addons.find((a) => a.name === 'vpc-cni');
  if (addon) return String(addon.configuration.enableNetworkPolicy) === 'true';
  const options = model.platform.vpcCniOptions;
  return options.useDefaultVpcCni === false && options.enableNetworkPolicy === true;
};

function ipv4Range(cidr: string): [number, number] {
  const [address, bits] = cidr.split('/');
  const value = address!.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return [value - (value % size), value - (value % size) + size - 1];
}

const within = (inner: string, outer: string) => {
  const [a, b] = ipv4Range(inner);
  const [c, d] = ipv4Range(outer);
  return a >= c && b <= d;
};

/** The ports of the data stores outside the cluster (RDS, ElastiCache), reached inside the VPC. */
const VPC_DATA_PORTS = new Set([5432, 6379]);

/** NetworkPolicies exist only where the cluster enforces them; every pod with egress rules may reach DNS; peers exist and are no wider than the VPC. */
export const networkPolicies: Check = (model) => {
  const problems: string[] = [];
  const policies = model.manifests.filter((o) => o.kind === 'NetworkPolicy');
  if (policies.length === 0) return problems;
  if (!vpcCniEnforces(model)) {
    problems.push(
      `NetworkPolicy ${policies.map((p) => p.metadata.name).join(', ')} in namespace ${policies[0].metadata.namespace} would be accepted and silently ignored: the VPC CNI's network policy agent is off (vpc-cni add-on configuration enableNetworkPolicy is not "true")`,
    );
  }
  const known = namespaces(model);
  const dns = model.system.dns;
  for (const w of manifestWorkloads(model.manifests)) {
    const selecting = policies.filter(
      (p) =>
        p.metadata.namespace === w.namespace &&
        matchesLabels(p.spec.podSelector?.matchLabels, w.labels) &&
        (p.spec.podSelector?.matchExpressions ?? []).length === 0,
    );
    if (!selecting.some((p) => (p.spec.policyTypes ?? []).includes('Egress'))) continue;
    const reachesDns =
      dns !== undefined &&
      selecting.some((p) =>
        (p.spec.egress ?? []).some(
          (rule: Json) =>
            (rule.ports ?? []).some((port: Json) => (port.protocol ?? 'TCP') === 'UDP' && port.port === 53) &&
            (rule.to ?? []).some(
              (peer: Json) =>
                matchesLabels(peer.namespaceSelector?.matchLabels, {
                  'kubernetes.io/metadata.name': dns.namespace,
                }) &&
                peer.namespaceSelector !== undefined &&
                matchesLabels(peer.podSelector?.matchLabels, dns.labels),
            ),
        ),
      );
    if (!reachesDns) {
      problems.push(
        `${w.ref} has egress rules but none admits UDP 53 to the cluster DNS pods (${
          dns
            ? `${dns.namespace}, ${Object.entries(dns.labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(',')}`
            : 'no DNS add-on is installed'
        }): every name lookup times out`,
      );
    }
  }
  for (const p of policies) {
    const where = `NetworkPolicy ${p.metadata.namespace}/${p.metadata.name}`;
    const rules = [
      ...(p.spec.ingress ?? []).map((r: Json) => ({
        dir: 'ingress',
        peers: r.from ?? [],
        ports: r.ports ?? [],
      })),
      ...(p.spec.egress ?? []).map((r: Json) => ({ dir: 'egress', peers: r.to ?? [], ports: r.ports ?? [] })),
    ];
    for (const { dir, peers, ports } of rules) {
      for (const peer of peers) {
        const ns = peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'];
        if (ns && !known.has(ns)) {
          problems.push(
            `${where} allows ${dir} ${dir === 'ingress' ? 'from' : 'to'} namespace ${ns}, which nothing creates (no manifest, platform object or add-on)`,
          );
        }
        const cidr: string | undefined = peer.ipBlock?.cidr;
        if (!cidr || cidr.includes(':')) continue;
        const portList = ports.map((x: Json) => x.port).join(',');
        if (dir === 'ingress' && !within(cidr, model.platform.vpcCidr)) {
          problems.push(
            `${where} admits ${cidr} on ${portList}, but every load balancer that reaches these pods sits in the VPC (${model.platform.vpcCidr}): the VPC CIDR would do`,
          );
        }
        if (
          dir === 'egress' &&
          ports.some((x: Json) => VPC_DATA_PORTS.has(x.port)) &&
          !within(cidr, model.platform.vpcCidr)
        ) {
          problems.push(
            `${where} allows egress to ${cidr} on ${portList}, but RDS and ElastiCache are in the VPC (${model.platform.vpcCidr}): the VPC CIDR would do`,
          );
        }
      }
    }
  }
  return problems;
};

// ---------------------------------------------------------------------------------------------

const describePod = (u: Unscheduled) =>
  `Pod ${u.pod} (${u.workload.ref}, requests ${u.workload.pod.cpuMillis}m CPU, ${Math.round(u.workload.pod.memoryMi)}Mi)`;

const describeGroups = (model: ClusterModel, size: 'minSize' | 'maxSize') =>
  model.platform.nodeGroups.map((g) => `${g.name} ${g[size]} × ${g.instanceType}`).join(', ');

/** Every workload at its minimum replicas fits the node groups at their minimum size, or an autoscaler grows them and the maximum fits. */
export const fit: Check = (model) => {
  const workloads = [...appWorkloads(model), ...model.system.workloads];
  const atMin = schedule(buildNodes(model.platform.nodeGroups, 'minSize'), workloads);
  if (atMin.unscheduled.length === 0) return [];
  if (!model.system.autoscaler) {
    return atMin.unscheduled.map(
      (u) =>
        `${describePod(u)} stays Pending on ${describeGroups(model, 'minSize')}: ${u.reasons}; no cluster autoscaler is installed, so the node groups' maxSize never comes into play`,
    );
  }
  const atMax = schedule(buildNodes(model.platform.nodeGroups, 'maxSize'), workloads);
  return atMax.unscheduled.map(
    (u) =>
      `${describePod(u)} stays Pending even with every node group at its maximum (${describeGroups(model, 'maxSize')}): ${u.reasons}`,
  );
};

/** No HPA scales past the nodes its pods must spread over. */
export const spread: Check = (model) => {
  const problems: string[] = [];
  for (const w of appWorkloads(model).filter((x) => x.pod.onePerNode)) {
    const groups = model.platform.nodeGroups.filter(
      (g) => selectsNode(w.pod, g.labels) && g.taints.every((t) => tolerates(w.pod.tolerations, t)),
    );
    const nodes = groups.reduce((n, g) => n + g.maxSize, 0);
    if (w.maxReplicas > nodes) {
      problems.push(
        `${w.autoscaler ? `HorizontalPodAutoscaler ${w.namespace}/${w.autoscaler}` : w.ref} may scale ${w.ref} to ${w.maxReplicas} replicas, but its pods need one node each (required anti-affinity on kubernetes.io/hostname) and the node groups that admit them (${groups.map((g) => `${g.name}, max ${g.maxSize}`).join('; ') || 'none'}) hold ${nodes}: replica ${nodes + 1} stays Pending`,
      );
    }
  }
  return problems;
};

// ---------------------------------------------------------------------------------------------

interface Binding {
  readonly serviceAccount: string;
  readonly roleArn: string;
  readonly via: string;
}

function bindingsOf(model: ClusterModel): Binding[] {
  const annotated = [...model.platform.objects, ...model.manifests]
    .filter((o) => o.kind === 'ServiceAccount' && o.metadata.annotations?.['eks.amazonaws.com/role-arn'])
    .map((o) => ({
      serviceAccount: `${o.metadata.namespace}/${o.metadata.name}`,
      roleArn: o.metadata.annotations['eks.amazonaws.com/role-arn'],
      via: `ServiceAccount annotation`,
    }));
  const podIdentity = model.platform.podIdentities.map((p) => ({
    ...p,
    via: 'EKS Pod Identity association',
  }));
  return [...model.system.roleBindings, ...annotated, ...podIdentity];
}

/** Every ServiceAccount a pod names exists; every IRSA / Pod Identity binding points at a ServiceAccount that exists and is used. */
export const identities: Check = (model) => {
  const problems: string[] = [];
  const created = new Set(model.system.serviceAccounts);
  for (const o of [...model.platform.objects, ...model.manifests].filter(
    (x) => x.kind === 'ServiceAccount',
  )) {
    created.add(`${o.metadata.namespace}/${o.metadata.name}`);
  }
  const apps = appWorkloads(model);
  const used = new Set(
    [...apps, ...model.system.workloads].map(
      (w) => `${w.namespace}/${w.spec.serviceAccountName ?? 'default'}`,
    ),
  );
  for (const w of apps) {
    const sa = w.spec.serviceAccountName ?? 'default';
    if (sa !== 'default' && !created.has(`${w.namespace}/${sa}`)) {
      problems.push(
        `${w.ref} runs as ServiceAccount ${w.namespace}/${sa}, which nothing creates: its pods are refused (error looking up service account)`,
      );
    }
  }
  const exists = (sa: string) => created.has(sa) || sa.endsWith('/default');
  for (const role of model.platform.roles.filter((r) => r.trustedServiceAccounts.length > 0)) {
    for (const sa of role.trustedServiceAccounts) {
      if (!exists(sa))
        problems.push(
          `IAM role ${role.name} trusts ServiceAccount ${sa}, which no manifest, platform object or add-on creates`,
        );
      else if (!used.has(sa))
        problems.push(`IAM role ${role.name} trusts ServiceAccount ${sa}, which no pod runs as`);
    }
    if (!bindingsOf(model).some((b) => b.roleArn === role.arn)) {
      problems.push(
        `IAM role ${role.name} is bound to no ServiceAccount (no role-arn annotation, add-on or Pod Identity association names it): nothing can assume it`,
      );
    }
  }
  for (const b of bindingsOf(model)) {
    const role = model.platform.roles.find((r) => r.arn === b.roleArn);
    if (!role)
      problems.push(
        `${b.via} binds ServiceAccount ${b.serviceAccount} to ${b.roleArn}, a role the platform does not create`,
      );
    else if (
      b.via !== 'EKS Pod Identity association' &&
      !role.trustedServiceAccounts.includes(b.serviceAccount)
    ) {
      problems.push(
        `${b.via} binds ServiceAccount ${b.serviceAccount} to IAM role ${role.name}, whose trust policy admits only ${role.trustedServiceAccounts.join(', ') || 'no ServiceAccount'}: AssumeRoleWithWebIdentity is denied`,
      );
    }
    if (!exists(b.serviceAccount))
      problems.push(`${b.via} binds ServiceAccount ${b.serviceAccount}, which nothing creates`);
    else if (!used.has(b.serviceAccount))
      problems.push(`${b.via} binds ServiceAccount ${b.serviceAccount}, which no pod runs as`);
  }
  return problems;
};

// ---------------------------------------------------------------------------------------------

/** Every Secret and ConfigMap a pod reads is created by the manifests or by the platform (with the key it reads). */
export const configReferences: Check = (model) => {
  const problems: string[] = [];
  const objects = objectsOf(model);
  const keysOf = (o: Json): string[] | undefined =>
    o.kind === 'ConfigMap'
      ? Object.keys({ ...o.data, ...o.binaryData })
      : o.data || o.stringData
        ? Object.keys({ ...o.data, ...o.stringData })
        : undefined;
  for (const w of appWorkloads(model)) {
    const read = (
      kind: 'Secret' | 'ConfigMap',
      name: string,
      dataKey: string | undefined,
      how: string,
      optional: boolean,
    ) => {
      if (optional) return;
      const o = objects.get(key(kind, w.namespace, name));
      if (!o) {
        problems.push(
          `${w.ref} reads ${kind} ${w.namespace}/${name} (${how}), which neither the manifests nor the platform create: its pods stay in CreateContainerConfigError`,
        );
        return;
      }
      const keys = keysOf(o);
      if (dataKey && keys && !keys.includes(dataKey)) {
        problems.push(
          `${w.ref} reads key ${dataKey} of ${kind} ${w.namespace}/${name} (${how}), which holds only ${keys.join(', ')}`,
        );
      }
    };
    for (const c of containersOf(w.spec)) {
      for (const e of c.env ?? []) {
        const s = e.valueFrom?.secretKeyRef;
        const m = e.valueFrom?.configMapKeyRef;
        if (s) read('Secret', s.name, s.key, `env ${e.name}`, s.optional === true);
        if (m) read('ConfigMap', m.name, m.key, `env ${e.name}`, m.optional === true);
      }
      for (const f of c.envFrom ?? []) {
        if (f.secretRef)
          read('Secret', f.secretRef.name, undefined, 'envFrom', f.secretRef.optional === true);
        if (f.configMapRef)
          read('ConfigMap', f.configMapRef.name, undefined, 'envFrom', f.configMapRef.optional === true);
      }
    }
    for (const v of w.spec.volumes ?? []) {
      if (v.secret)
        read('Secret', v.secret.secretName, undefined, `volume ${v.name}`, v.secret.optional === true);
      if (v.configMap)
        read('ConfigMap', v.configMap.name, undefined, `volume ${v.name}`, v.configMap.optional === true);
      for (const source of v.projected?.sources ?? []) {
        if (source.secret)
          read('Secret', source.secret.name, undefined, `volume ${v.name}`, source.secret.optional === true);
        if (source.configMap)
          read(
            'ConfigMap',
            source.configMap.name,
            undefined,
            `volume ${v.name}`,
            source.configMap.optional === true,
          );
      }
    }
  }
  return problems;
};

// ---------------------------------------------------------------------------------------------

/** A public image is pinned when its tag names a version (or it is pinned by digest). */
const pinned = (image: string) =>
  image.includes('@sha256:') || (/:[^:/]*\d[^:/]*$/.test(image) && !/:latest$/.test(image));

/** Every image is in an ECR repository the platform creates (tags immutable, as IfNotPresent assumes), or is a pinned public image. */
export const images: Check = (model) => {
  const problems: string[] = [];
  const reported = new Set<string>();
  for (const w of appWorkloads(model)) {
    for (const c of containersOf(w.spec)) {
      const image: string = c.image;
      const where = `${w.ref} container ${c.name}`;
      if (/\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com\//.test(image)) {
        const repository = image.split('@')[0]!.replace(/:[^:/]+$/, '');
        const repo = model.platform.ecrRepositories.find((r) => r.url === repository);
        if (!repo)
          problems.push(
            `${where} pulls ${image}, from ${repository}, a repository the platform does not create: ErrImagePull (repository not found or no pull access)`,
          );
        else if (!repo.immutable && !reported.has(repository)) {
          reported.add(repository);
          problems.push(
            `ECR repository ${repository} has MUTABLE tags while ${where} pulls ${image} with imagePullPolicy ${c.imagePullPolicy ?? 'IfNotPresent'}: a re-pushed tag leaves nodes running different images under one name`,
          );
        }
      } else if (!pinned(image)) {
        problems.push(`${where} pulls the public image ${image}, which is not pinned to a version`);
      }
    }
  }
  return problems;
};

// ---------------------------------------------------------------------------------------------

const READINESS_GATE_LABEL = 'elbv2.k8s.aws/pod-readiness-gate-inject';

/** ip-target load balancers get readiness gates, a controller that serves them, and backends that deregister before they stop. */
export const loadBalancers: Check = (model) => {
  const problems: string[] = [];
  const known = namespaces(model);
  const services = model.manifests.filter((o) => o.kind === 'Service');
  const workloads = manifestWorkloads(model.manifests);
  const backendsOf = (namespace: string, serviceName: string) => {
    const svc = services.find((s) => s.metadata.name === serviceName && s.metadata.namespace === namespace);
    if (!svc?.spec.selector) return [];
    return workloads.filter((w) => w.namespace === namespace && matchesLabels(svc.spec.selector, w.labels));
  };
  const lbs: { what: string; namespace: string; ipTargets: boolean; services: string[] }[] = [];
  for (const ing of model.manifests.filter((o) => o.kind === 'Ingress')) {
    const a = ing.metadata.annotations ?? {};
    const what = `Ingress ${ing.metadata.namespace}/${ing.metadata.name}`;
    if (!model.system.ingressClasses.has(ing.spec.ingressClassName)) {
      problems.push(
        `${what} has ingressClassName ${ing.spec.ingressClassName}, which no installed controller serves: no load balancer is created`,
      );
    }
    const names = new Set<string>();
    for (const rule of ing.spec.rules ?? [])
      for (const p of rule.http?.paths ?? []) names.add(p.backend.service.name);
    for (const [k, v] of Object.entries(a)) {
      if (!k.startsWith('alb.ingress.kubernetes.io/actions.')) continue;
      const action = JSON.parse(v as string);
      for (const g of action.forwardConfig?.targetGroups ?? []) names.add(g.serviceName);
      names.delete(k.slice('alb.ingress.kubernetes.io/actions.'.length));
    }
    lbs.push({
      what,
      namespace: ing.metadata.namespace,
      ipTargets: a['alb.ingress.kubernetes.io/target-type'] === 'ip',
      services: [...names],
    });
  }
  for (const svc of services.filter((s) => s.spec.type === 'LoadBalancer')) {
    const a = svc.metadata.annotations ?? {};
    const what = `Service ${svc.metadata.namespace}/${svc.metadata.name}`;
    if (
      a['service.beta.kubernetes.io/aws-load-balancer-type'] === 'external' &&
      !model.system.loadBalancerController
    ) {
      problems.push(
        `${what} asks for an external (controller-made) NLB, but the AWS Load Balancer Controller is not installed`,
      );
    }
    lbs.push({
      what,
      namespace: svc.metadata.namespace,
      ipTargets: a['service.beta.kubernetes.io/aws-load-balancer-nlb-target-type'] === 'ip',
      services: [svc.metadata.name],
    });
  }
  for (const lb of lbs.filter((x) => x.ipTargets)) {
    if (known.get(lb.namespace)?.[READINESS_GATE_LABEL] !== 'enabled') {
      problems.push(
        `${lb.what} registers pod IPs (target-type ip), but namespace ${lb.namespace} lacks the label ${READINESS_GATE_LABEL}: enabled, so pods get no target-health readiness gate and a rollout can leave the target group with only initial and draining targets`,
      );
    }
    for (const name of lb.services) {
      for (const w of backendsOf(lb.namespace, name)) {
        const c = w.spec.containers[0];
        const sleep =
          c?.lifecycle?.preStop?.exec?.command?.[0] === 'sleep'
            ? Number(c.lifecycle.preStop.exec.command[1])
            : c?.lifecycle?.preStop?.sleep?.seconds;
        if (!sleep) {
          problems.push(
            `${w.ref} is a target of ${lb.what} but has no preStop delay: it stops serving before the load balancer deregisters it, and requests in that window fail with 502`,
          );
        } else if ((w.spec.terminationGracePeriodSeconds ?? 30) <= sleep) {
          problems.push(
            `${w.ref} sleeps ${sleep}s in preStop but its grace period is only ${w.spec.terminationGracePeriodSeconds ?? 30}s`,
          );
        }
      }
    }
  }
  return problems;
};

// ---------------------------------------------------------------------------------------------

/** NATS spreads over zones, so losing one zone (or rolling one node) keeps a JetStream quorum where the zones allow it. */
export const natsZones: Check = (model) => {
  const problems: string[] = [];
  for (const sts of manifestWorkloads(model.manifests).filter(
    (w) => w.kind === 'StatefulSet' && containersOf(w.spec).some((c) => String(c.image).startsWith('nats:')),
  )) {
    const zoneSpread = sts.pod.spread.find((s) => s.topologyKey === 'topology.kubernetes.io/zone');
    const groups = model.platform.nodeGroups.filter(
      (g) => selectsNode(sts.pod, g.labels) && g.taints.every((t) => tolerates(sts.pod.tolerations, t)),
    );
    const zones = new Set(groups.flatMap((g) => g.zones));
    const quorum = Math.floor(sts.minReplicas / 2) + 1;
    if (!zoneSpread || zoneSpread.maxSkew !== 1) {
      problems.push(
        `${sts.ref} has no topology spread over topology.kubernetes.io/zone (maxSkew 1, DoNotSchedule): the scheduler may put ${quorum} of its ${sts.minReplicas} JetStream peers in one zone, and losing that zone loses the quorum`,
      );
    }
    if (zones.size < Math.min(sts.minReplicas, model.platform.zones.length)) {
      problems.push(
        `${sts.ref} can land only on node groups spanning ${[...zones].join(', ')}, fewer zones than the VPC's ${model.platform.zones.length}`,
      );
    }
  }
  return problems;
};

// ---------------------------------------------------------------------------------------------

/** The latency server is Guaranteed QoS on whole cores, on the tainted pool, whose kubelet pins CPUs (static CPU manager). */
export const latencyServer: Check = (model) => {
  const problems: string[] = [];
  const w = manifestWorkloads(model.manifests).find(
    (x) => x.name === 'latency-server' && x.kind === 'Deployment',
  );
  if (!w) return ['the manifests have no Deployment latency-server'];
  for (const c of containersOf(w.spec)) {
    const r = c.resources ?? {};
    const cpuReq = cpuMillis(r.requests?.cpu);
    const cpuLim = cpuMillis(r.limits?.cpu);
    const memReq = memoryMi(r.requests?.memory);
    const memLim = memoryMi(r.limits?.memory);
    if (cpuReq !== cpuLim || memReq !== memLim || cpuReq === 0) {
      problems.push(
        `${w.ref} container ${c.name} requests ${cpuReq}m CPU / ${memReq}Mi with limits ${cpuLim}m / ${memLim}Mi: QoS class Burstable, so it shares cores and is throttled at its limit (Guaranteed needs requests equal to limits)`,
      );
    } else if (cpuReq % 1000 !== 0) {
      problems.push(
        `${w.ref} container ${c.name} requests ${cpuReq}m CPU: the static CPU manager pins only whole cores`,
      );
    }
  }
  const groups = model.platform.nodeGroups.filter(
    (g) => selectsNode(w.pod, g.labels) && g.taints.every((t) => tolerates(w.pod.tolerations, t)),
  );
  const tainted = groups.filter((g) => g.taints.some((t) => t.effect === 'NoSchedule'));
  if (tainted.length === 0 || tainted.length !== groups.length) {
    problems.push(
      `${w.ref} may land on ${groups.map((g) => g.name).join(', ') || 'no node group'}, not only on a tainted pool of its own`,
    );
  }
  for (const g of tainted) {
    if (g.kubelet.cpuManagerPolicy !== 'static') {
      problems.push(
        `node group ${g.name} runs the kubelet with cpuManagerPolicy ${String(g.kubelet.cpuManagerPolicy ?? 'none')}: ${w.ref} gets no exclusive cores even when Guaranteed`,
      );
    }
  }
  return problems;
};

/** The variables each Gavel service validates at start (its config module), by workload name. */
export type ServiceEnvs = Readonly<Record<string, readonly string[]>>;

/**
 * What a pod is given matches what reads it: every variable is one its service declares, and
 * the DATABASE_URL the platform writes verifies the server with a CA file the pod mounts and
 * connects as an application role, not the RDS master user.
 */
export function serviceEnvironment(envs: ServiceEnvs): Check {
  return (model) => {
    const problems: string[] = [];
    const objects = objectsOf(model);
    for (const w of manifestWorkloads(model.manifests)) {
      const declared = envs[w.name];
      const c = w.spec.containers[0];
      if (!declared || !c) continue;
      for (const e of c.env ?? []) {
        if (!declared.includes(e.name)) {
          problems.push(
            `${w.ref} is given ${e.name}, which its service never reads (not in its environment schema)${e.valueFrom?.secretKeyRef ? `: a credential handed to a process that has no use for it` : ''}`,
          );
        }
      }
      const ref = (c.env ?? []).find((e: Json) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef;
      const value: string | undefined =
        ref && objects.get(key('Secret', w.namespace, ref.name))?.stringData?.[ref.key];
      if (!value) continue;
      const url = new URL(value);
      const where = `${w.ref} reads DATABASE_URL from Secret ${w.namespace}/${ref.name}, which`;
      if (decodeURIComponent(url.username) === model.platform.databaseMasterUser) {
        problems.push(
          `${where} connects as the RDS master user ${model.platform.databaseMasterUser} rather than an application role`,
        );
      }
      if (url.searchParams.get('sslmode') !== 'verify-full') {
        problems.push(
          `${where} sets sslmode=${url.searchParams.get('sslmode') ?? '(none)'}: the connection is encrypted but the server's certificate is never checked (verify-full with the RDS CA bundle)`,
        );
        continue;
      }
      const caFile = url.searchParams.get('sslrootcert');
      const mounts = (c.volumeMounts ?? []).filter((m: Json) =>
        caFile?.startsWith(`${m.mountPath.replace(/\/$/, '')}/`),
      );
      const mounted = mounts.some((m: Json) => {
        const volume = (w.spec.volumes ?? []).find((v: Json) => v.name === m.name);
        const source = volume?.configMap ?? volume?.secret;
        return source !== undefined;
      });
      if (!caFile || !mounted) {
        problems.push(
          `${where} verifies the server against ${caFile ?? '(no sslrootcert)'}, a file no volume of the pod provides`,
        );
      }
    }
    return problems;
  };
}

/**
 * The latency lab's two halves meet: every TargetGroupBinding names a target group the platform
 * made (same target type, in the cluster's VPC) and a Service port that exists and selects pods
 * listening there; the in-cluster paths the platform lists name Services of the manifests; the
 * compare Job reads exactly the platform's list.
 */
export const latencyLab: Check = (model) => {
  const problems: string[] = [];
  const lab = model.platform.platformOutputs?.latencyLab;
  const bindings = model.manifests.filter((o) => o.kind === 'TargetGroupBinding');
  if (!lab) {
    return bindings.map(
      (b) =>
        `TargetGroupBinding ${b.metadata.namespace}/${b.metadata.name} names ${b.spec.targetGroupARN}, but the platform has no latency lab`,
    );
  }
  const objects = objectsOf(model);
  const workloads = manifestWorkloads(model.manifests);
  const arns = Object.values(lab.targetGroupArns as Record<string, string>);
  const bound = new Set(bindings.map((b) => b.spec.targetGroupARN));
  for (const arn of arns.filter((a) => !bound.has(a))) {
    problems.push(
      `target group ${arn} of the latency lab has no TargetGroupBinding: its load balancer has no targets`,
    );
  }
  for (const b of bindings) {
    const what = `TargetGroupBinding ${b.metadata.namespace}/${b.metadata.name}`;
    if (!model.system.loadBalancerController) {
      problems.push(`${what} needs the AWS Load Balancer Controller, which is not installed`);
    }
    const tg = model.platform.targetGroups.find((t) => t.arn === b.spec.targetGroupARN);
    if (!tg) {
      problems.push(
        `${what} names target group ${b.spec.targetGroupARN}, which the platform does not create`,
      );
      continue;
    }
    if (tg.targetType !== b.spec.targetType) {
      problems.push(
        `${what} registers ${b.spec.targetType} targets in a target group of type ${tg.targetType}`,
      );
    }
    if (tg.vpcId !== model.platform.clusterVpcId) {
      problems.push(
        `${what}: target group ${tg.arn} is not in the cluster's VPC, so pod IPs cannot be its targets`,
      );
    }
    const svc = objects.get(key('Service', b.metadata.namespace, b.spec.serviceRef.name));
    const port = svc?.spec.ports?.find(
      (p: Json) => p.port === b.spec.serviceRef.port || p.name === b.spec.serviceRef.port,
    );
    if (!svc || !port) {
      problems.push(
        `${what} binds Service ${b.metadata.namespace}/${b.spec.serviceRef.name} port ${b.spec.serviceRef.port}, which the manifests do not have`,
      );
      continue;
    }
    const backends = workloads.filter(
      (w) => w.namespace === b.metadata.namespace && matchesLabels(svc.spec.selector, w.labels),
    );
    const listens = backends.some((w) =>
      containersOf(w.spec).some((c) =>
        (c.ports ?? []).some((p: Json) => p.containerPort === (port.targetPort ?? port.port)),
      ),
    );
    if (!listens) {
      problems.push(
        `${what}: no pod behind Service ${svc.metadata.name} listens on ${port.targetPort ?? port.port}, so every target is unhealthy`,
      );
    }
    if (tg.port !== (port.targetPort ?? port.port)) {
      problems.push(
        `${what}: target group port ${tg.port} differs from the pods' port ${port.targetPort ?? port.port}`,
      );
    }
  }
  for (const t of lab.targets as Json[]) {
    const host = new URL(t.url).hostname;
    const inCluster = /^([^.]+)\.([^.]+)\.svc\.cluster\.local$/.exec(host);
    if (t.from !== 'cluster' || !inCluster) continue;
    const svc = objects.get(key('Service', inCluster[2], inCluster[1]!));
    if (!svc) {
      problems.push(`the latency lab path ${t.label} dials ${host}, a Service the manifests do not create`);
    }
  }
  const targetsMap = model.manifests.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === 'latency-lab-targets',
  );
  if (!targetsMap || JSON.stringify(JSON.parse(targetsMap.data['targets.json'])) !== JSON.stringify(lab)) {
    problems.push(
      'ConfigMap latency-lab-targets does not hold the platform outputs latencyLab block: the compare Job measures other paths than the platform built',
    );
  }
  return problems;
};

export const CHECKS = {
  storage,
  networkPolicies,
  fit,
  spread,
  identities,
  configReferences,
  images,
  loadBalancers,
  natsZones,
  latencyServer,
  latencyLab,
} as const;

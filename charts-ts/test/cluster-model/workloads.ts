/** Pods as the scheduler sees them, read from pod templates wherever they come from. */

// Pod specs are walked field by field; the model reads only what the scheduler would.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: string;
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: string;
  readonly value?: string;
  readonly effect?: string;
}

export interface NodeSelectorRequirement {
  readonly key: string;
  readonly operator: string;
  readonly values?: readonly string[];
}

export interface SpreadConstraint {
  readonly topologyKey: string;
  readonly maxSkew: number;
  /** Honor: nodes whose taints the pod does not tolerate are left out of the skew (default Ignore). */
  readonly honorTaints: boolean;
}

export interface PodShape {
  readonly cpuMillis: number;
  readonly memoryMi: number;
  readonly nodeSelector: Readonly<Record<string, string>>;
  /** Terms are ORed, the requirements inside one term ANDed (as in nodeAffinity). */
  readonly requiredNodeTerms: readonly (readonly NodeSelectorRequirement[])[];
  readonly tolerations: readonly Toleration[];
  /** Required anti-affinity against its own pods on kubernetes.io/hostname: one per node. */
  readonly onePerNode: boolean;
  /** topologySpreadConstraints with whenUnsatisfiable: DoNotSchedule. */
  readonly spread: readonly SpreadConstraint[];
}

export interface Workload {
  /** `Kind namespace/name`, the way kubectl names it. */
  readonly ref: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly pod: PodShape;
  /** Raw pod template spec and labels (for env, volumes, images, probes). */
  readonly spec: Json;
  readonly labels: Readonly<Record<string, string>>;
  /** Replicas at rest: the HPA's minimum, else spec.replicas. */
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Name of the HPA that scales it, if any. */
  readonly autoscaler?: string;
  readonly daemonSet: boolean;
}

/** "250m", "2", 2 → millicores. */
export function cpuMillis(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const text = String(value);
  if (text.endsWith('m')) return Number(text.slice(0, -1));
  return Math.round(Number(text) * 1000);
}

const MEMORY_UNITS: Record<string, number> = { Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024 };

/** "512Mi", "1Gi", bytes → MiB. */
export function memoryMi(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti)?$/.exec(String(value));
  if (!match) throw new Error(`the cluster model cannot read the memory quantity ${String(value)}`);
  const unit = match[2];
  return unit ? Number(match[1]) * MEMORY_UNITS[unit]! : Number(match[1]) / (1024 * 1024);
}

export function containersOf(spec: Json): Json[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

/** Effective requests: the larger of the sum of app containers and the largest init container. */
function podRequests(spec: Json): { cpuMillis: number; memoryMi: number } {
  const sum = (list: Json[], read: (c: Json) => number) => list.reduce((n, c) => n + read(c), 0);
  const max = (list: Json[], read: (c: Json) => number) => list.reduce((n, c) => Math.max(n, read(c)), 0);
  const cpu = (c: Json) => cpuMillis(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu);
  const mem = (c: Json) => memoryMi(c.resources?.requests?.memory ?? c.resources?.limits?.memory);
  const app = spec.containers ?? [];
  const init = spec.initContainers ?? [];
  return {
    cpuMillis: Math.max(sum(app, cpu), max(init, cpu)),
    memoryMi: Math.max(sum(app, mem), max(init, mem)),
  };
}

export function podShape(spec: Json, labels: Readonly<Record<string, string>>): PodShape {
  const matchesOwn = (selector: Json) =>
    Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const anti = spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  return {
    ...podRequests(spec),
    nodeSelector: spec.nodeSelector ?? {},
    requiredNodeTerms: (
      spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []
    ).map((term: Json) => term.matchExpressions ?? []),
    tolerations: spec.tolerations ?? [],
    onePerNode: anti.some(
      (term: Json) => term.topologyKey === 'kubernetes.io/hostname' && matchesOwn(term.labelSelector),
    ),
    spread: (spec.topologySpreadConstraints ?? [])
      .filter((c: Json) => c.whenUnsatisfiable === 'DoNotSchedule' && matchesOwn(c.labelSelector))
      .map((c: Json) => ({
        topologyKey: c.topologyKey,
        maxSkew: c.maxSkew,
        honorTaints: c.nodeTaintsPolicy === 'Honor',
      })),
  };
}

/** Whether a pod tolerates a taint (NoSchedule/NoExecute taints repel; PreferNoSchedule does not). */
export function tolerates(tolerations: readonly Toleration[], taint: Taint): boolean {
  if (taint.effect === 'PreferNoSchedule') return true;
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return t.key === undefined || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

export function selectsNode(pod: PodShape, labels: Readonly<Record<string, string>>): boolean {
  if (!Object.entries(pod.nodeSelector).every(([k, v]) => labels[k] === v)) return false;
  if (pod.requiredNodeTerms.length === 0) return true;
  return pod.requiredNodeTerms.some((term) =>
    term.every((req) => {
      const value = labels[req.key];
      switch (req.operator) {
        case 'In':
          return value !== undefined && (req.values ?? []).includes(value);
        case 'NotIn':
          return value === undefined || !(req.values ?? []).includes(value);
        case 'Exists':
          return value !== undefined;
        case 'DoesNotExist':
          return value === undefined;
        default:
          throw new Error(`the cluster model does not know node selector operator ${req.operator}`);
      }
    }),
  );
}

/** Every pod template the manifests define, with its replica range. */
export function manifestWorkloads(objects: readonly Json[]): Workload[] {
  const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind))
    .map((o) => {
      const namespace = o.metadata.namespace ?? 'default';
      const hpa = hpas.find(
        (h) =>
          h.spec.scaleTargetRef.kind === o.kind &&
          h.spec.scaleTargetRef.name === o.metadata.name &&
          (h.metadata.namespace ?? 'default') === namespace,
      );
      const fixed = o.kind === 'Job' ? (o.spec.parallelism ?? 1) : (o.spec.replicas ?? 1);
      const labels = o.spec.template.metadata?.labels ?? {};
      return {
        ref: `${o.kind} ${namespace}/${o.metadata.name}`,
        kind: o.kind,
        namespace,
        name: o.metadata.name,
        pod: podShape(o.spec.template.spec, labels),
        spec: o.spec.template.spec,
        labels,
        minReplicas: hpa ? (hpa.spec.minReplicas ?? 1) : fixed,
        maxReplicas: hpa ? hpa.spec.maxReplicas : fixed,
        ...(hpa ? { autoscaler: hpa.metadata.name } : {}),
        daemonSet: o.kind === 'DaemonSet',
      };
    });
}

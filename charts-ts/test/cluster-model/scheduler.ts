import { allocatable, type Allocatable } from './instance-types.js';
import type { NodeGroupView } from './platform-view.js';
import { selectsNode, tolerates, type Workload } from './workloads.js';

/**
 * A small scheduler: places every replica of every workload on the nodes of the node groups,
 * honouring requests against allocatable, node selectors and required node affinity, taints
 * and tolerations, required one-per-node anti-affinity and DoNotSchedule topology spread.
 * DaemonSet pods go first, one on each node that admits them. Placement is first-fit over
 * pods sorted largest first, the way a busy cluster fills up rather than the way an empty one
 * spreads, so a fit here is not luck.
 */

export interface SimNode {
  readonly name: string;
  readonly group: NodeGroupView;
  readonly zone: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly allocatable: Allocatable;
  cpuUsed: number;
  memoryUsed: number;
  pods: string[];
}

export interface Unscheduled {
  readonly pod: string;
  readonly workload: Workload;
  readonly reasons: string;
}

export interface Placement {
  readonly nodes: readonly SimNode[];
  readonly unscheduled: readonly Unscheduled[];
}

export function buildNodes(groups: readonly NodeGroupView[], size: 'minSize' | 'maxSize'): SimNode[] {
  return groups.flatMap((group) =>
    Array.from({ length: group[size] }, (_, i) => {
      const zone = group.zones[i % group.zones.length] ?? 'unknown';
      const name = `${group.name}-${i + 1}`;
      return {
        name,
        group,
        zone,
        labels: {
          ...group.labels,
          'kubernetes.io/hostname': name,
          'topology.kubernetes.io/zone': zone,
          'node.kubernetes.io/instance-type': group.instanceType,
        },
        allocatable: allocatable(group.instanceType),
        cpuUsed: 0,
        memoryUsed: 0,
        pods: [],
      };
    }),
  );
}

const admits = (node: SimNode, w: Workload) =>
  selectsNode(w.pod, node.labels) && node.group.taints.every((t) => tolerates(w.pod.tolerations, t));

function reasonsFor(nodes: readonly SimNode[], w: Workload, placedOf: (n: SimNode) => number): string {
  const counts = new Map<string, number>();
  const note = (r: string) => counts.set(r, (counts.get(r) ?? 0) + 1);
  for (const node of nodes) {
    const taint = node.group.taints.find((t) => !tolerates(w.pod.tolerations, t));
    if (taint) note(`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`);
    else if (!selectsNode(w.pod, node.labels)) note("node(s) didn't match Pod's node affinity/selector");
    else if (w.pod.onePerNode && placedOf(node) > 0) note("node(s) didn't match pod anti-affinity rules");
    else if (node.allocatable.cpuMillis - node.cpuUsed < w.pod.cpuMillis) note('Insufficient cpu');
    else if (node.allocatable.memoryMi - node.memoryUsed < w.pod.memoryMi) note('Insufficient memory');
    else if (node.pods.length >= node.allocatable.pods) note('Too many pods');
    else note("node(s) didn't match pod topology spread constraints");
  }
  const list = [...counts].map(([reason, n]) => `${n} ${reason}`).join(', ');
  return `0/${nodes.length} nodes are available: ${list || 'no nodes'}`;
}

export function schedule(nodes: SimNode[], workloads: readonly Workload[]): Placement {
  const unscheduled: Unscheduled[] = [];
  const place = (node: SimNode, w: Workload, pod: string) => {
    node.cpuUsed += w.pod.cpuMillis;
    node.memoryUsed += w.pod.memoryMi;
    node.pods.push(pod);
  };
  for (const ds of workloads.filter((w) => w.daemonSet)) {
    for (const node of nodes.filter((n) => admits(n, ds))) place(node, ds, `${ds.ref}@${node.name}`);
  }
  const replicas = workloads
    .filter((w) => !w.daemonSet)
    .flatMap((w) =>
      Array.from({ length: w.minReplicas }, (_, i) => ({ w, pod: `${w.namespace}/${w.name}-${i}` })),
    )
    .sort((a, b) => b.w.pod.cpuMillis - a.w.pod.cpuMillis || b.w.pod.memoryMi - a.w.pod.memoryMi);
  const owners = new Map<string, Workload>();
  for (const { w, pod } of replicas) {
    const placedOf = (n: SimNode) => n.pods.filter((p) => owners.get(p) === w).length;
    const eligible = nodes.filter((n) => admits(n, w));
    // Domains are the nodes the pod's selectors admit; their taints count only under Honor.
    const selected = nodes.filter((n) => selectsNode(w.pod, n.labels));
    const spreadOk = (candidate: SimNode) =>
      w.pod.spread.every(({ topologyKey, maxSkew, honorTaints }) => {
        const domains = new Map<string, number>();
        for (const n of honorTaints ? eligible : selected) {
          if (n.labels[topologyKey] === undefined) continue;
          const key = n.labels[topologyKey] ?? '';
          domains.set(key, (domains.get(key) ?? 0) + placedOf(n) + (n === candidate ? 1 : 0));
        }
        const values = [...domains.values()];
        return Math.max(...values) - Math.min(...values) <= maxSkew;
      });
    const node = eligible.find(
      (n) =>
        n.allocatable.cpuMillis - n.cpuUsed >= w.pod.cpuMillis &&
        n.allocatable.memoryMi - n.memoryUsed >= w.pod.memoryMi &&
        n.pods.length < n.allocatable.pods &&
        !(w.pod.onePerNode && placedOf(n) > 0) &&
        spreadOk(n),
    );
    if (node) {
      owners.set(pod, w);
      place(node, w, pod);
    } else {
      unscheduled.push({ pod, workload: w, reasons: reasonsFor(nodes, w, placedOf) });
    }
  }
  return { nodes, unscheduled };
}

import { readFileSync } from 'node:fs';

/** The parts of a V8 .cpuprofile (node --cpu-prof) this summary reads. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  readonly name: string;
  readonly where: string;
  readonly percent: number;
}

export interface ProfileSummary {
  /** Sampled time, idle excluded, ms. */
  readonly busyMs: number;
  /** Self time by package (node_modules/<pkg>, node internals, the api's own code, GC). */
  readonly byArea: ProfileRow[];
  /** The functions with the most self time. */
  readonly self: ProfileRow[];
  /** The functions with the most time including what they call (roots left out). */
  readonly inclusive: ProfileRow[];
  /**
   * Where each sample's time goes by purpose: the outbox relay (any frame of it or of the NATS
   * client on the stack), else the first of PURPOSES found anywhere on the stack (a socket
   * write under ioredis counts as ioredis, one under Fastify's reply as Fastify).
   */
  readonly byPurpose: ProfileRow[];
}

/** In priority order: the first one with a frame on a sample's stack names it. */
const PURPOSES: ReadonlyArray<[string, RegExp]> = [
  ['ioredis (bid script calls)', /node_modules\/ioredis\//],
  ['jose / token verification', /node_modules\/jose\/|shared\/(src|dist)\/auth|lru-cache/],
  ['zod (request validation)', /node_modules\/zod\//],
  ['prom-client (metrics)', /node_modules\/prom-client\//],
  ['pino (logging)', /node_modules\/pino/],
  [
    'fastify (routing, hooks, reply)',
    /node_modules\/(fastify|find-my-way|light-my-request|secure-json-parse|avvio|@fastify)/,
  ],
  ["the api's own code", /services\/api\//],
  ['node:http (parse, write)', /^node:_http|^node:http/],
];

function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/packages/shared/')) return '@gavel/shared';
  if (url.includes('/services/api/')) return '@gavel/api';
  return url;
}

function whereOf(url: string, line: number): string {
  if (!url) return '';
  const short = url
    .replace(/^file:\/\//, '')
    .replace(/^.*node_modules\//, '')
    .replace(/^.*\/(services|packages)\//, '$1/');
  return `${short}:${line + 1}`;
}

/** Self and inclusive time per function of a profile, as percentages of the busy time. */
export function summarizeProfile(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const isIdle = (id: number) => byId.get(id)?.callFrame.functionName === '(idle)';
  let busy = 0;
  for (const [id, us] of selfUs) if (!isIdle(id)) busy += us;

  const key = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || '(anonymous)'}\u0000${whereOf(f.url, f.lineNumber)}`;
  };
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const [id, us] of selfUs) {
    if (isIdle(id)) continue;
    const f = byId.get(id)!.callFrame;
    self.set(key(id), (self.get(key(id)) ?? 0) + us);
    const area = areaOf(f.url, f.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }

  // Inclusive: each node's subtree, counted once per function even under recursion.
  const inclusive = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>): number => {
    const node = byId.get(id)!;
    let total = isIdle(id) ? 0 : (selfUs.get(id) ?? 0);
    const k = key(id);
    const fresh = !onStack.has(k);
    if (fresh) onStack.add(k);
    for (const child of node.children ?? []) total += walk(child, onStack);
    if (fresh) {
      onStack.delete(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + total);
    }
    return total;
  };
  walk(profile.nodes[0]!.id, new Set());

  const rows = (m: Map<string, number>, filter: (pct: number) => boolean = () => true) =>
    [...m.entries()]
      .map(([k, us]) => {
        const [name, where] = k.split('\u0000') as [string, string];
        return { name, where, percent: Math.round((us / busy) * 1000) / 10 };
      })
      .filter((r) => filter(r.percent))
      .sort((a, b) => b.percent - a.percent)
      .slice(0, top);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const purposeOf = new Map<number, string>();
  const purposeOfNode = (id: number): string => {
    const known = purposeOf.get(id);
    if (known) return known;
    const frames: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
      frames.push(byId.get(at)!.callFrame.url);
    let purpose = byId.get(id)!.callFrame.functionName === '(garbage collector)' ? '(garbage collector)' : '';
    if (!purpose && frames.some((u) => /outbox-relay|node_modules\/nats\//.test(u)))
      purpose = 'outbox relay (Redis reads and acks, NATS publish)';
    if (!purpose)
      purpose =
        PURPOSES.find(([, re]) => frames.some((u) => re.test(u)))?.[0] ?? 'other (node internals, native)';
    purposeOf.set(id, purpose);
    return purpose;
  };
  const purposes = new Map<string, number>();
  for (const [id, us] of selfUs) {
    if (isIdle(id)) continue;
    const p = purposeOfNode(id);
    purposes.set(p, (purposes.get(p) ?? 0) + us);
  }

  return {
    busyMs: Math.round(busy / 1000),
    byPurpose: [...purposes.entries()]
      .map(([name, us]) => ({ name, where: '', percent: Math.round((us / busy) * 1000) / 10 }))
      .sort((a, b) => b.percent - a.percent),
    byArea: [...areas.entries()]
      .map(([name, us]) => ({ name, where: '', percent: Math.round((us / busy) * 1000) / 10 }))
      .sort((a, b) => b.percent - a.percent)
      .slice(0, 15),
    self: rows(self),
    inclusive: rows(inclusive, (pct) => pct < 60),
  };
}

import { readFileSync } from 'node:fs';

/** The parts of a V8 .cpuprofile (node --cpu-prof) that the summary reads. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileShare {
  readonly name: string;
  readonly share: number;
}

export interface ProfileSummary {
  /** CPU time sampled inside the window, in milliseconds (idle excluded). */
  readonly sampledMs: number;
  /** Self time by where the code lives: a package, node's internals, the worker's own modules, GC. */
  readonly byPlace: readonly ProfileShare[];
  /** Self time of the heaviest functions. */
  readonly topFunctions: readonly ProfileShare[];
}

/**
 * Self time of a profile between two CLOCK_MONOTONIC instants (µs, the clock of
 * process.hrtime and of V8's sample timestamps), so that start-up is left out.
 */
export function summarizeCpuProfile(
  path: string,
  window: { fromUs: number; toUs: number },
  top = 15,
): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  let t = profile.startTime;
  for (const [i, nodeId] of profile.samples.entries()) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < window.fromUs || t > window.toUs) continue;
    const frame = frames.get(nodeId);
    if (!frame || frame.functionName === '(idle)') continue;
    total += delta;
    const place = placeOf(frame.url, frame.functionName);
    byPlace.set(place, (byPlace.get(place) ?? 0) + delta);
    const fn = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta);
  }
  const shares = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, share: us / Math.max(1, total) }));
  return { sampledMs: total / 1000, byPlace: shares(byPlace, 12), topFunctions: shares(byFunction, top) };
}

function placeOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/packages/shared/')) return '@gavel/shared';
  if (url.includes('/src/')) return 'archival worker';
  return shortUrl(url);
}

function shortUrl(url: string): string {
  const inModules = url.lastIndexOf('node_modules/');
  if (inModules >= 0) return url.slice(inModules + 'node_modules/'.length);
  const src = url.lastIndexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

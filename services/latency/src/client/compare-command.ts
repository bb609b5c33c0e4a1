import type { LatencyTarget } from '@gavel/shared';
import { runViaAgent } from '../agent/agent-client.js';
import { UsageError, type CompareOptions } from './cli-options.js';
import type { CommandIo } from './echo-command.js';
import { encodeHistogram } from './latency-histogram.js';
import { mergeLoadResults, runLoad, type LoadResult, type LoadSpec } from './load-run.js';
import { TargetError, parseTarget } from './probe-transport.js';
import { createProgressBar } from './progress-bar.js';
import { writeReportFiles, type ReportSeries } from './report-files.js';
import { formatRunTable, summarizeRun, type RunSummary } from './run-summary.js';
import { readTargetsFile } from './targets-file.js';

/** A round of a path that could not be measured, and why. */
export interface PathFailure {
  readonly label: string;
  readonly round: number;
  readonly error: string;
}

/** A compare summary: the echo summary with each path's vantage, crossing and histogram. */
export type CompareSummary = RunSummary & {
  readonly mode: 'compare';
  /** Rounds of paths that could not be measured (their rows leave those rounds out). */
  readonly failures?: readonly PathFailure[];
};

export const COMPARE_PLOT_TITLE = 'WebSocket echo latency by network path (compare)';

export function compareSubtitle(load: LoadSpec, createdAt: string, rounds = 1): string {
  const perPath = rounds > 1 ? `${rounds} interleaved rounds of ${load.durationS} s` : `${load.durationS} s`;
  return `${load.connections} connections, ${load.rate} msg/s total, ${load.payloadBytes} B payload, ${perPath} after ${load.warmupS} s warm-up each, ${createdAt}; baseline first`;
}

/** Adds what a compare report says of each path to the echo summary, histograms included. */
export function compareSummary(
  results: readonly LoadResult[],
  paths: readonly LatencyTarget[],
  load: LoadSpec,
  agentUrl: string,
  rounds = 1,
): CompareSummary {
  const summary = summarizeRun(results, load);
  return {
    ...summary,
    mode: 'compare',
    agentUrl,
    rounds,
    targets: summary.targets.map((t, i) => ({
      ...t,
      from: paths[i]!.from,
      description: paths[i]!.description,
      histogram: encodeHistogram(results[i]!.histogram),
    })),
  };
}

/** Writes the report files and prints the table (and the JSON summary with --json). */
export async function reportCompare(
  summary: CompareSummary,
  series: readonly ReportSeries[],
  options: { out?: string; json: boolean },
  io: CommandIo,
): Promise<void> {
  if (options.out) {
    const files = await writeReportFiles(options.out, 'latency', series, summary, {
      title: COMPARE_PLOT_TITLE,
      subtitle: compareSubtitle(summary.load, summary.createdAt),
    });
    (options.json ? io.stderr : io.stdout)(
      `wrote ${[files.json, ...files.hgrm, files.svg].map((f) => `${options.out}/${f}`).join(', ')}\n`,
    );
  }
  const table = formatRunTable(summary);
  const legend = summary.targets
    .map((t) => `  ${t.label.padEnd(14)} from ${t.from ?? '?'}: ${t.description ?? ''}`)
    .join('\n');
  const failed = (summary.failures ?? []).map((f) => `  ${f.label} (round ${f.round}): ${f.error}`);
  const text =
    `${table}\n\npaths (the first is the baseline of the ratio rows):\n${legend}\n` +
    (failed.length > 0 ? `\nnot measured:\n${failed.join('\n')}\n` : '');
  if (options.json) {
    io.stderr(text);
    io.stdout(`${JSON.stringify(summary)}\n`);
  } else {
    io.stdout(text);
  }
}

/**
 * `gavel-latency compare`: the same load against every path of the latency lab in turn, in the
 * file's order. Paths measured from the cluster run here (the compare Job is a pod); paths of
 * the client VPC run on the agent there, which returns its histograms. One report holds all.
 */
export async function runCompareCommand(
  options: CompareOptions,
  io: CommandIo,
  signal: AbortSignal,
): Promise<number> {
  const lab = await readTargetsFile(options.targetsFile);
  const agentUrl = options.agentUrl ?? lab.agentUrl;
  let paths = lab.targets;
  if (options.only) {
    const unknown = options.only.filter((label) => !paths.some((t) => t.label === label));
    if (unknown.length > 0) {
      throw new UsageError(
        `--only names ${unknown.join(', ')}, which the targets file lacks (it has ${paths.map((t) => t.label).join(', ')})`,
      );
    }
    paths = paths.filter((t) => options.only!.includes(t.label));
  }
  const load: LoadSpec = options.load;
  const runs = new Map<string, LoadResult[]>();
  const measureOnce = async (path: LatencyTarget, round: number): Promise<LoadResult> => {
    const of = options.rounds > 1 ? ` (round ${round + 1} of ${options.rounds})` : '';
    if (path.from === 'client-vpc') {
      io.stderr(`${path.label}${of}: measuring from the client VPC through the agent at ${agentUrl}\n`);
      return runViaAgent(agentUrl, path.label, load, { signal });
    }
    const bar = createProgressBar(
      options.progress,
      `${path.label}${of}`,
      Math.round(load.rate * (load.warmupS + load.durationS)),
    );
    try {
      return await runLoad(parseTarget(path.url, 'ws', path.label), load, {
        signal,
        onProgress: (p) => bar.update({ ...p, done: p.sent }),
      });
    } finally {
      bar.stop();
    }
  };
  // A path that cannot be measured (an endpoint not ready, the agent away) is reported and
  // skipped: a long run keeps what the other paths measured.
  const failures: PathFailure[] = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const path of paths) {
      if (signal.aborted) break;
      try {
        const result = await measureOnce(path, round);
        runs.set(path.label, [...(runs.get(path.label) ?? []), result]);
      } catch (err) {
        if (!(err instanceof TargetError)) throw err;
        failures.push({ label: path.label, round: round + 1, error: err.message });
        io.stderr(`${path.label}: not measured in round ${round + 1}: ${err.message}\n`);
      }
    }
  }
  const measured = paths.filter((p) => runs.has(p.label));
  if (measured.length === 0 && failures[0]) throw new TargetError(failures[0].error);
  const results = measured.map((p) => mergeLoadResults(runs.get(p.label)!));
  const summary: CompareSummary = {
    ...compareSummary(results, measured, load, agentUrl, options.rounds),
    ...(failures.length > 0 ? { failures } : {}),
  };
  const series = results.map((r) => ({ label: r.target.label, histogram: r.histogram }));
  await reportCompare(summary, series, options, io);
  return failures.length > 0 || summary.targets.some((t) => t.received === 0) ? 1 : 0;
}

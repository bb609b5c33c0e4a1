import { cpus, hostname } from 'node:os';
import { SUMMARY_COLUMNS, SUMMARY_LABELS, summarize, type PercentileSummary } from './latency-histogram.js';
import type { LoadResult, LoadSpec } from './load-run.js';

/** The counters of a load run, as they are, beside its percentiles. */
type RunCounters = Pick<
  LoadResult,
  | 'expected'
  | 'sent'
  | 'received'
  | 'lost'
  | 'errors'
  | 'achievedRate'
  | 'maxSendLagMs'
  | 'startedAt'
  | 'finishedAt'
>;

export interface TargetSummary extends RunCounters {
  readonly label: string;
  readonly target: string;
  readonly protocol: string;
  /** From the intended send time: what a user of the schedule saw. */
  readonly latencyMs: PercentileSummary;
  /** From the actual send time: the same without the client's own lateness. */
  readonly serviceTimeMs: PercentileSummary;
  /** Each percentile divided by the first target's (compare mode). */
  readonly ratioToBaseline?: Record<string, number>;
  /** Name of the .hgrm file beside the summary, when files were written. */
  hgrm?: string;
  /** Compare mode: where the path was measured from (`cluster`, `client-vpc`). */
  readonly from?: string;
  /** Compare mode: which boundaries the path crosses. */
  readonly description?: string;
  /** Compare mode: the latency histogram (HdrHistogram compressed base64, µs), to redraw the report. */
  readonly histogram?: string;
}

export interface RunSummary {
  readonly tool: 'gavel-latency';
  readonly mode: 'echo' | 'compare';
  /** Compare mode: the agent that measured the client VPC's paths. */
  readonly agentUrl?: string;
  /** Compare mode: interleaved rounds merged into each path's figures. */
  readonly rounds?: number;
  readonly createdAt: string;
  readonly load: LoadSpec;
  readonly machine: { hostname: string; cpus: number; cpuModel: string; node: string };
  readonly targets: TargetSummary[];
  plot?: string;
}

export function describeMachine() {
  const list = cpus();
  return {
    hostname: hostname(),
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    node: process.version,
  };
}

function ratios(value: PercentileSummary, baseline: PercentileSummary): Record<string, number> {
  return Object.fromEntries(
    SUMMARY_COLUMNS.map((key) => [
      key,
      baseline[key] > 0 ? Math.round((value[key] / baseline[key]) * 100) / 100 : Number.NaN,
    ]),
  );
}

export function summarizeRun(results: readonly LoadResult[], load: LoadSpec): RunSummary {
  const targets = results.map((r): TargetSummary => ({
    label: r.target.label,
    target: r.target.url.href,
    protocol: r.target.protocol,
    expected: r.expected,
    sent: r.sent,
    received: r.received,
    lost: r.lost,
    errors: r.errors,
    achievedRate: Math.round(r.achievedRate * 10) / 10,
    maxSendLagMs: r.maxSendLagMs,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    latencyMs: summarize(r.histogram),
    serviceTimeMs: summarize(r.serviceHistogram),
  }));
  const baseline = targets[0];
  const withRatios =
    targets.length > 1 && baseline
      ? targets.map((t, i) =>
          i === 0 ? t : { ...t, ratioToBaseline: ratios(t.latencyMs, baseline.latencyMs) },
        )
      : targets;
  return {
    tool: 'gavel-latency',
    mode: 'echo',
    createdAt: new Date().toISOString(),
    load,
    machine: describeMachine(),
    targets: withRatios,
  };
}

const pad = (text: string, width: number) =>
  text.length >= width ? text : ' '.repeat(width - text.length) + text;

/** Rows of label + percentiles (ms) + counts; under each non-baseline row, its ratios. */
export function formatTable(
  rows: ReadonlyArray<{
    label: string;
    latencyMs: PercentileSummary;
    count: number;
    errors: number;
    rate?: number;
    ratioToBaseline?: Record<string, number>;
  }>,
): string {
  const labelWidth = Math.max(8, ...rows.map((r) => r.label.length)) + 2;
  const head = [
    'target'.padEnd(labelWidth),
    ...SUMMARY_COLUMNS.map((c) => pad(SUMMARY_LABELS[c], 9)),
    pad('count', 9),
    pad('errors', 7),
    pad('rate/s', 9),
  ].join('');
  const lines = [head + '   (latency in ms from intended send time)'];
  for (const row of rows) {
    lines.push(
      [
        row.label.padEnd(labelWidth),
        ...SUMMARY_COLUMNS.map((c) => pad(row.latencyMs[c].toFixed(3), 9)),
        pad(String(row.count), 9),
        pad(String(row.errors), 7),
        pad(row.rate === undefined ? '-' : row.rate.toFixed(1), 9),
      ].join(''),
    );
    if (row.ratioToBaseline) {
      lines.push(
        [
          '  × baseline'.padEnd(labelWidth),
          ...SUMMARY_COLUMNS.map((c) => pad(`${row.ratioToBaseline![c]!.toFixed(2)}x`, 9)),
        ].join(''),
      );
    }
  }
  return lines.join('\n');
}

export function formatRunTable(summary: RunSummary): string {
  return formatTable(
    summary.targets.map((t) => ({
      label: t.label,
      latencyMs: t.latencyMs,
      count: t.received,
      errors: t.errors,
      rate: t.achievedRate,
      ratioToBaseline: t.ratioToBaseline,
    })),
  );
}

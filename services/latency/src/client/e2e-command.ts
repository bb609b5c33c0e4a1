import type { E2eOptions } from './cli-options.js';
import type { CommandIo } from './echo-command.js';
import { runE2e, type E2eResult } from './e2e-run.js';
import { summarize, type PercentileSummary } from './latency-histogram.js';
import { createProgressBar } from './progress-bar.js';
import { writeReportFiles } from './report-files.js';
import { describeMachine, formatTable } from './run-summary.js';

export interface E2eSummary {
  readonly tool: 'gavel-latency';
  readonly mode: 'e2e';
  readonly createdAt: string;
  readonly load: { watchers: number; bidders: number; rate: number; warmupS: number; durationS: number };
  readonly api: string;
  readonly broadcast: string;
  readonly itemId: string;
  readonly bids: E2eResult['bids'];
  readonly events: E2eResult['events'];
  readonly targets: Array<{ label: string; latencyMs: PercentileSummary; hgrm?: string }>;
  readonly machine: ReturnType<typeof describeMachine>;
  plot?: string;
}

export const E2E_SERIES = {
  bidToScreen: 'bid sent -> bid event (intended)',
  acceptedToScreen: '201 received -> bid event',
  bidResponse: 'bid sent -> 201 (intended)',
} as const;

export function summarizeE2e(options: E2eOptions, result: E2eResult): E2eSummary {
  return {
    tool: 'gavel-latency',
    mode: 'e2e',
    createdAt: new Date().toISOString(),
    load: {
      watchers: options.watchers,
      bidders: options.bidders,
      rate: options.rate,
      warmupS: options.warmupS,
      durationS: options.durationS,
    },
    api: options.apiUrl.origin,
    broadcast: options.broadcastUrl.origin,
    itemId: result.itemId,
    bids: result.bids,
    events: result.events,
    targets: (Object.keys(E2E_SERIES) as Array<keyof typeof E2E_SERIES>).map((key) => ({
      label: E2E_SERIES[key],
      latencyMs: summarize(result[key]),
    })),
    machine: describeMachine(),
  };
}

/** The `e2e` command: one run, a table (or JSON), and the files with --out. */
export async function runE2eCommand(
  options: E2eOptions,
  io: CommandIo,
  signal: AbortSignal,
): Promise<number> {
  const total = Math.round(options.rate * (options.warmupS + options.durationS));
  const bar = createProgressBar(options.progress, 'e2e', total);
  let result: E2eResult;
  try {
    result = await runE2e(options, {
      signal,
      onProgress: (p) => bar.update({ ...p, done: p.bidsSent, sent: p.bidsSent, received: p.events }),
    });
  } finally {
    bar.stop();
  }
  const summary = summarizeE2e(options, result);
  if (options.out) {
    await writeReportFiles(
      options.out,
      'e2e',
      summary.targets.map((t, i) => ({
        label: t.label,
        histogram: [result.bidToScreen, result.acceptedToScreen, result.bidResponse][i]!,
      })),
      summary,
      {
        title: 'Bid to screen latency by percentile',
        subtitle: `${options.watchers} watchers, ${options.rate} bids/s, ${options.durationS} s after ${options.warmupS} s warm-up, ${summary.createdAt}`,
      },
    );
  }
  const table = formatTable(
    summary.targets.map((t) => ({
      label: t.label,
      latencyMs: t.latencyMs,
      count: t.latencyMs.count,
      errors: 0,
    })),
  );
  const facts =
    `bids: ${result.bids.scheduled} sent, ${result.bids.accepted} accepted, ${result.bids.rejected} rejected (409), ${result.bids.failed} failed; ` +
    `events: ${result.events.received}/${result.events.expected} received, ${result.events.lost} lost, ${result.events.duplicates} duplicate\n`;
  if (options.json) {
    io.stderr(`${table}\n${facts}`);
    io.stdout(`${JSON.stringify(summary)}\n`);
  } else {
    io.stdout(`${table}\n${facts}`);
  }
  return result.events.received > 0 && result.events.lost === 0 ? 0 : 1;
}

import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { createLogger, createRegistry, registerOpsRoutes } from '@gavel/shared';
import type { RunOptions } from './cli-options.js';
import { createClientMetrics } from './client-metrics.js';
import { runLoad, type LoadResult, type LoadSpec } from './load-run.js';
import { createProgressBar } from './progress-bar.js';
import { writeReportFiles } from './report-files.js';
import { formatRunTable, summarizeRun, type RunSummary } from './run-summary.js';

export interface CommandIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export function loadSpecOf(options: RunOptions): LoadSpec {
  return {
    connections: options.connections,
    rate: options.rate,
    payloadBytes: options.payloadBytes,
    warmupS: options.warmupS,
    durationS: options.durationS,
    drainTimeoutMs: options.drainTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
  };
}

/** Runs the same load against every target, one after another, and reports them side by side. */
export async function measureTargets(
  options: RunOptions,
  hooks: { signal?: AbortSignal; onSample?: (label: string) => ((us: number) => void) | undefined } = {},
): Promise<{ results: LoadResult[]; summary: RunSummary }> {
  const spec = loadSpecOf(options);
  const results: LoadResult[] = [];
  for (const target of options.targets) {
    if (hooks.signal?.aborted) break;
    const totalMessages = Math.round(spec.rate * (spec.warmupS + spec.durationS));
    const bar = createProgressBar(options.progress, target.label, totalMessages);
    try {
      results.push(
        await runLoad(target, spec, {
          signal: hooks.signal,
          onSample: hooks.onSample?.(target.label),
          onProgress: (p) => bar.update({ ...p, done: p.sent }),
        }),
      );
    } finally {
      bar.stop();
    }
  }
  return { results, summary: summarizeRun(results, spec) };
}

export async function reportRun(
  options: RunOptions,
  measured: { results: LoadResult[]; summary: RunSummary },
  io: CommandIo,
) {
  const { results, summary } = measured;
  if (options.out) {
    const files = await writeReportFiles(
      options.out,
      'latency',
      results.map((r) => ({ label: r.target.label, histogram: r.histogram })),
      summary,
      {
        title:
          results.length > 1
            ? 'WebSocket echo latency by percentile (compare)'
            : 'WebSocket echo latency by percentile',
        subtitle: `${options.connections} connections, ${options.rate} msg/s total, ${options.payloadBytes} B payload, ${options.durationS} s after ${options.warmupS} s warm-up, ${summary.createdAt}`,
      },
    );
    (options.json ? io.stderr : io.stdout)(
      `wrote ${[files.json, ...files.hgrm, files.svg].map((f) => `${options.out}/${f}`).join(', ')}\n`,
    );
  }
  const table = formatRunTable(summary);
  if (options.json) {
    io.stderr(`${table}\n`);
    io.stdout(`${JSON.stringify(summary)}\n`);
  } else {
    io.stdout(`${table}\n`);
  }
}

/**
 * The `run` command. Once by default; with --loop it repeats until `signal` aborts, logging
 * each summary and (with --serve-metrics) exporting the histograms for Prometheus.
 */
export async function runEchoCommand(
  options: RunOptions,
  io: CommandIo,
  signal: AbortSignal,
): Promise<number> {
  if (!options.loop) {
    const measured = await measureTargets(options, { signal });
    await reportRun(options, measured, io);
    return measured.summary.targets.some((t) => t.received === 0) ? 1 : 0;
  }

  const logger = createLogger('latency-client');
  const registry = createRegistry('latency-client');
  const metrics = createClientMetrics(registry);
  let lastRunOk = false;
  const app = Fastify();
  registerOpsRoutes(app, {
    registry,
    checks: {
      lastRun: async () => {
        if (!lastRunOk) throw new Error('no successful run yet');
      },
    },
  });
  if (options.serveMetricsPort !== undefined) {
    await app.listen({ port: options.serveMetricsPort, host: '0.0.0.0' });
    logger.info({ port: options.serveMetricsPort }, 'serving /metrics');
  }
  try {
    while (!signal.aborted) {
      try {
        const measured = await measureTargets(options, {
          signal,
          onSample: (label) => metrics.sampleRecorder(label),
        });
        for (const t of measured.summary.targets) metrics.recordRun(t.label, t.latencyMs, t.received, t.lost);
        lastRunOk = measured.summary.targets.every((t) => t.received > 0);
        if (options.out)
          await reportRun({ ...options, json: false }, measured, { stdout: () => {}, stderr: () => {} });
        logger.info({ summary: measured.summary.targets }, 'run complete');
      } catch (err) {
        lastRunOk = false;
        logger.error({ err: (err as Error).message }, 'run failed');
      }
      await sleep(Math.max(options.pauseS * 1000, lastRunOk ? 0 : 1000), undefined, { signal }).catch(
        () => undefined,
      );
    }
  } finally {
    await app.close();
  }
  return 0;
}

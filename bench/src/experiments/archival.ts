import { runChildBench, readReport } from '../child-bench.js';
import type { Experiment, ExperimentContext, Headline, Table } from '../experiment.js';
import { barChart } from '../report/svg-chart.js';
import { median, round } from './stats.js';

/** What services/archival/bench/archival-throughput.ts writes (the parts read here). */
interface ArchivalReport {
  readonly settings: { events: number; rate: number; burst: number };
  readonly copies: ReadonlyArray<{ rowsPerSecond: number; clientUsPerRow: number; backendUsPerRow: number }>;
  readonly drains: ReadonlyArray<{
    variant: string;
    batchSize: number;
    concurrency: number;
    eventsPerSecond: number;
    workerUsPerEvent: number;
    backendUsPerEvent: number;
  }>;
  readonly sustained: ReadonlyArray<{
    publishedPerSecond: number;
    workerUsPerEvent: number;
    latencyMs: { p50: number; p99: number; max: number };
  }>;
  readonly bursts: ReadonlyArray<{
    burst?: { events: number; peakLag: number; recoverySeconds: number; catchUpPerSecond: number };
  }>;
}

async function run(ctx: ExperimentContext) {
  await runChildBench(
    {
      script: 'services/archival/bench/archival-throughput.ts',
      log: 'archival.log',
      env: ctx.quick
        ? {
            BENCH_QUICK: '1',
            BENCH_EVENTS: '3000',
            BENCH_ROUNDS: '1',
            BENCH_LIVE_ROUNDS: '0',
            BENCH_WORKERS: '256x2',
          }
        : {},
    },
    ctx,
  );
  const r = await readReport<ArchivalReport>(ctx, 'archival-throughput.json');
  const copyRate = median(r.copies.map((c) => c.rowsPerSecond));
  const copyCpu = median(r.copies.map((c) => c.clientUsPerRow + c.backendUsPerRow));
  const configs = [...new Set(r.drains.map((d) => `${d.variant}|${d.batchSize}x${d.concurrency}`))];
  const rows = configs.map((key) => {
    const [variant, size] = key.split('|');
    const runs = r.drains.filter((d) => `${d.variant}|${d.batchSize}x${d.concurrency}` === key);
    const rate = median(runs.map((d) => d.eventsPerSecond));
    const cpu = median(runs.map((d) => d.workerUsPerEvent + d.backendUsPerEvent));
    return { label: `${variant} ${size}`, rate, cpu };
  });
  const best = rows.reduce((a, b) => (b.rate > a.rate ? b : a), rows[0]!);
  const headlines: Headline[] = [
    {
      what: `archival backlog drain (${best.label})`,
      value: round(best.rate, 0),
      unit: 'events/s',
      baseline: 'PostgreSQL COPY of the same rows',
      baselineValue: round(copyRate, 0),
      ratio: best.rate / copyRate,
      target: '≥ 0.5× COPY',
      met: best.rate / copyRate >= 0.5,
    },
    {
      what: `archival CPU per event, worker + its PostgreSQL backends (${best.label})`,
      value: round(best.cpu, 1),
      unit: 'µs',
      baseline: 'COPY client + backend per row',
      baselineValue: round(copyCpu, 1),
      ratio: best.cpu / copyCpu,
    },
  ];
  const tables: Table[] = [
    {
      title: 'Backlog drain beside COPY',
      columns: ['path', 'events/s (median)', '× COPY', 'CPU µs/event (worker + backends)'],
      rows: [
        ...rows.map((x) => [x.label, round(x.rate, 0), round(x.rate / copyRate), round(x.cpu, 1)]),
        ['PostgreSQL COPY', round(copyRate, 0), 1, round(copyCpu, 1)],
      ],
    },
  ];
  if (r.sustained.length > 0) {
    tables.push({
      title: `Sustained rate and lag recovery after a burst (${r.settings.rate} events/s; burst of ${r.settings.burst})`,
      columns: [
        'events/s',
        'worker CPU µs/event',
        'latency p50 / p99 / max ms',
        'burst peak lag',
        'recovery s',
        'catch-up events/s',
      ],
      rows: r.sustained.map((s, i) => {
        const b = r.bursts[i]?.burst;
        return [
          round(s.publishedPerSecond, 0),
          round(s.workerUsPerEvent, 1),
          `${round(s.latencyMs.p50, 0)} / ${round(s.latencyMs.p99, 0)} / ${round(s.latencyMs.max, 0)}`,
          b ? b.peakLag : 'n/a',
          b ? round(b.recoverySeconds, 1) : 'n/a',
          b ? round(b.catchUpPerSecond, 0) : 'n/a',
        ];
      }),
    });
    const recovery = median(r.bursts.map((b) => b.burst?.recoverySeconds ?? NaN));
    const steadyP99 = median(r.sustained.map((s) => s.latencyMs.p99));
    headlines.push({
      what: `lag recovery after a burst of ${r.settings.burst}`,
      value: round(recovery, 1),
      unit: 's',
      baseline: 'the burst at COPY speed',
      baselineValue: round(r.settings.burst / copyRate, 1),
      ratio: recovery / (r.settings.burst / copyRate),
    });
    void steadyP99;
  }
  const plot = {
    file: 'bench-archival.svg',
    title: 'Archival events/s beside COPY',
    svg: barChart({
      title: 'Archival backlog drain beside PostgreSQL COPY',
      subtitle: `${r.settings.events} bid events; worker in its own process; medians of the rounds`,
      yLabel: 'rows per second',
      groups: [
        ...rows.map((x) => ({ label: x.label, values: [x.rate] })),
        { label: 'COPY', values: [copyRate] },
      ],
      seriesLabels: ['events (rows) per second'],
      reference: { value: copyRate / 2, label: 'target: half of COPY' },
    }),
  };
  return {
    headlines,
    tables,
    plots: [plot],
    details: 'archival-throughput.md',
    raw: { rows, copyRate, copyCpu },
  };
}

export const archival: Experiment = {
  name: 'archival',
  title: 'Archival: JetStream → PostgreSQL',
  localOnly: 'needs the worker and PostgreSQL on this machine (/proc, backends)',
  run,
};

import { runChildBench, readReport } from '../child-bench.js';
import type { Experiment, ExperimentContext, Headline, Table } from '../experiment.js';
import { barChart } from '../report/svg-chart.js';
import { gavelLatency } from './latency-cli.js';

/** What services/broadcast/bench/fanout.ts writes (the parts read here). */
export interface FanoutReport {
  readonly memory: ReadonlyArray<{
    system: string;
    users: number;
    connections: number;
    perConnectionKiB: number;
  }>;
  readonly scenarios: ReadonlyArray<{
    watchers: number;
    rate: number;
    replicas: number;
    summary: ReadonlyArray<{
      system: 'raw' | 'socketio' | 'ws';
      label: string;
      cpuUsPerDelivery: number;
      ratioToRaw: number;
      deliveries: number;
      expected: number;
      outOfOrder: number;
      latencyMs: { p50: number; p90: number; p99: number; p99_9: number; max: number };
    }>;
  }>;
}

const NAME = { socketio: 'Socket.IO', ws: '/ws', raw: 'raw ws' } as const;
/** The memory targets per idle connection, KiB. */
const MEMORY_TARGET: Record<string, number> = { socketio: 16, ws: 10 };

async function local(ctx: ExperimentContext) {
  await runChildBench(
    {
      script: 'services/broadcast/bench/fanout.ts',
      log: 'fanout.log',
      settings: ctx.quick ? { scenarios: ['100x20x1'], rounds: 1, seconds: 2, warmupS: 1, idle: 0 } : {},
    },
    ctx,
  );
  return summarizeFanout(await readReport<FanoutReport>(ctx, 'broadcast-fanout.json'));
}

/** The harness's view of a fan-out report (also used to rebuild a report from a separate run). */
export function summarizeFanout(r: FanoutReport) {
  const headlines: Headline[] = [];
  const rows: Array<Array<string | number>> = [];
  for (const sc of r.scenarios) {
    const raw = sc.summary.find((s) => s.system === 'raw')!;
    for (const s of sc.summary) {
      rows.push([
        `${sc.watchers} × ${sc.rate}/s, ${sc.replicas} replica${sc.replicas > 1 ? 's' : ''}`,
        s.label,
        s.cpuUsPerDelivery,
        s.ratioToRaw,
        s.latencyMs.p50,
        s.latencyMs.p99,
        `${s.deliveries}/${s.expected}`,
        s.outOfOrder,
      ]);
      if (s.system === 'raw') continue;
      const where = `${sc.watchers} watchers × ${sc.rate} bids/s, ${sc.replicas} replica${sc.replicas > 1 ? 's' : ''}`;
      headlines.push({
        what: `fan-out CPU per delivery, ${NAME[s.system]}, ${where}`,
        value: s.cpuUsPerDelivery,
        unit: 'µs',
        baseline: 'raw ws broadcaster',
        baselineValue: raw.cpuUsPerDelivery,
        ratio: s.ratioToRaw,
        target: '≤ 1.0× raw ws',
        met: s.ratioToRaw <= 1,
      });
      if (sc.watchers >= 2000 && sc.rate >= 50)
        headlines.push({
          what: `p99 bid published → received, ${NAME[s.system]}, ${where}`,
          value: s.latencyMs.p99,
          unit: 'ms',
          baseline: 'raw ws broadcaster',
          baselineValue: raw.latencyMs.p99,
          ratio: s.latencyMs.p99 / raw.latencyMs.p99,
          target: '≤ 100 ms',
          met: s.latencyMs.p99 <= 100,
        });
    }
  }
  const rawMemory = r.memory.find((m) => m.system === 'raw')?.perConnectionKiB ?? NaN;
  for (const m of r.memory) {
    if (m.system === 'raw' || m.users !== m.connections) continue;
    headlines.push({
      what: `RSS per idle connection, ${NAME[m.system as 'ws']}, at ${m.connections} (a user each)`,
      value: m.perConnectionKiB,
      unit: 'KiB',
      baseline: 'raw ws broadcaster',
      baselineValue: rawMemory,
      ratio: m.perConnectionKiB / rawMemory,
      target: `≤ ${MEMORY_TARGET[m.system]} KiB`,
      met: m.perConnectionKiB <= MEMORY_TARGET[m.system]!,
    });
  }
  const table: Table = {
    title: 'CPU per delivery and bid published → received latency',
    columns: [
      'load',
      'server',
      'CPU µs/delivery',
      '× raw ws',
      'p50 ms',
      'p99 ms',
      'delivered',
      'out of order',
    ],
    rows,
  };
  const memoryTable: Table = {
    title: 'RSS per idle connection (slope between half and all of them, after a full GC)',
    columns: ['server', 'connections', 'users', 'KiB per connection'],
    rows: r.memory.map((m) => [NAME[m.system as 'ws'], m.connections, m.users, m.perConnectionKiB]),
  };
  const systems = ['raw', 'socketio', 'ws'] as const;
  const plot = {
    file: 'bench-fanout.svg',
    title: 'Fan-out CPU per delivery beside the raw ws broadcaster',
    svg: barChart({
      title: 'Server CPU per delivery (µs), broadcast beside a raw ws broadcaster',
      subtitle: 'utime+stime of the server processes / bids delivered; watchers in a separate process',
      yLabel: 'µs CPU per delivery',
      groups: r.scenarios.map((sc) => ({
        label: `${sc.watchers}×${sc.rate}/s, ${sc.replicas}r`,
        values: systems.map((sys) => sc.summary.find((s) => s.system === sys)?.cpuUsPerDelivery ?? NaN),
      })),
      seriesLabels: systems.map((s) => NAME[s]),
    }),
  };
  // A quick run measures no idle memory: no empty table for it.
  const tables = r.memory.length > 0 ? [table, memoryTable] : [table];
  return { headlines, tables, plots: [plot], details: 'broadcast-fanout.md', raw: r };
}

/** Against a deployed stack: bids through its api, watchers on its broadcast (gavel-latency e2e). */
async function remote(ctx: ExperimentContext) {
  const t = ctx.target!;
  const loads = ctx.quick
    ? [{ k: 100, r: 20 }]
    : [
        { k: 500, r: 20 },
        { k: 2000, r: 50 },
      ];
  const rows: Array<Array<string | number>> = [];
  for (const [i, load] of loads.entries()) {
    const s = await gavelLatency<{
      targets: Array<{ label: string; latencyMs: { p50: number; p99: number } }>;
      bids: { accepted: number };
    }>(
      ctx,
      [
        'e2e',
        '--api',
        t.api,
        '--broadcast',
        t.broadcast,
        '-k',
        String(load.k),
        '-r',
        String(load.r),
        '-d',
        ctx.quick ? '3' : '20',
        ...(t.authSecret ? ['--auth-secret', t.authSecret] : []),
      ],
      `fanout-e2e-${load.k}.log`,
    );
    for (const target of s.targets)
      rows.push([
        `${load.k} × ${load.r}/s`,
        target.label,
        target.latencyMs.p50,
        target.latencyMs.p99,
        s.bids.accepted,
      ]);
    ctx.progress(i + 1, loads.length, `${load.k} watchers`);
  }
  return {
    headlines: [],
    tables: [
      {
        title: `Bid → screen at ${t.broadcast} (server CPU not visible from here)`,
        columns: ['load', 'measure', 'p50 ms', 'p99 ms', 'bids accepted'],
        rows,
      },
    ],
    plots: [],
    raw: { rows },
  };
}

export const fanout: Experiment = {
  name: 'fanout',
  title: 'WebSocket fan-out (seed 004 experiment 2)',
  run: (ctx) => (ctx.target ? remote(ctx) : local(ctx)),
};

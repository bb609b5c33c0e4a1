import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChildBench, readReport } from '../child-bench.js';
import type { Experiment, ExperimentContext, Plot } from '../experiment.js';
import { gavelLatency } from './latency-cli.js';
import { round } from './stats.js';

interface Row {
  readonly rate: number;
  readonly serverCpuUsPerMsg: number;
  readonly latencyMs: { p50: number; p90: number; p99: number; p99_9: number; max: number };
  readonly received: number;
  readonly errors: number;
}
/** What services/latency/bench/echo-vs-tcp.ts writes (the parts read here). */
interface EchoReport {
  readonly fixed: { ws: Row; tcp: Row; socketIo: Row };
  readonly maxRate: { ws: { best?: Row }; tcp: { best?: Row } };
}

async function local(ctx: ExperimentContext) {
  await runChildBench(
    {
      script: 'services/latency/bench/echo-vs-tcp.ts',
      log: 'latency.log',
      settings: ctx.quick ? { rounds: 1, warmupS: 0.5, durationS: 1, searchBudgetMs: 0 } : {},
    },
    ctx,
  );
  const r = await readReport<EchoReport>(ctx, 'latency-echo.json');
  const { ws, tcp, socketIo } = r.fixed;
  const line = (name: string, x: Row) => [
    name,
    x.rate,
    x.latencyMs.p50,
    x.latencyMs.p99,
    x.latencyMs.p99_9,
    x.serverCpuUsPerMsg,
    x.received,
    x.errors,
  ];
  const plots: Plot[] = [];
  const svg = await readFile(join(ctx.outDir, 'latency-echo.svg'), 'utf8').catch(() => undefined);
  if (svg) plots.push({ file: 'latency-echo.svg', title: 'Echo latency by percentile, ws vs raw TCP', svg });
  return {
    headlines: [
      {
        what: `echo server CPU per message (${ws.rate} msg/s)`,
        value: ws.serverCpuUsPerMsg,
        unit: 'µs',
        baseline: 'raw TCP echo',
        baselineValue: tcp.serverCpuUsPerMsg,
        ratio: ws.serverCpuUsPerMsg / tcp.serverCpuUsPerMsg,
      },
      {
        what: `echo p99 (${ws.rate} msg/s)`,
        value: ws.latencyMs.p99,
        unit: 'ms',
        baseline: 'raw TCP echo',
        baselineValue: tcp.latencyMs.p99,
        ratio: ws.latencyMs.p99 / tcp.latencyMs.p99,
      },
    ],
    tables: [
      {
        title: 'Fixed load, 20 connections (latency from the intended send time)',
        columns: [
          'server',
          'msg/s',
          'p50 ms',
          'p99 ms',
          'p99.9 ms',
          'server CPU µs/msg',
          'received',
          'errors',
        ],
        rows: [
          line('ws echo', ws),
          line('raw TCP echo (baseline)', tcp),
          line('Socket.IO echo (for scale)', socketIo),
        ],
      },
      {
        title: 'Highest rate with p99 < 5 ms',
        columns: ['server', 'msg/s'],
        rows: [
          ['ws echo', r.maxRate.ws.best?.rate ?? 'not searched'],
          ['raw TCP echo', r.maxRate.tcp.best?.rate ?? 'not searched'],
        ],
      },
    ],
    plots,
    details: 'latency-echo.md',
    raw: r.fixed,
  };
}

async function remote(ctx: ExperimentContext) {
  const s = await gavelLatency<{
    targets: Array<{ label: string; latencyMs: { p50: number; p99: number; p99_9: number } }>;
  }>(
    ctx,
    ['run', '-t', ctx.target!.echo, '-c', '20', '-r', '2000', '-d', ctx.quick ? '2' : '20'],
    'latency-remote.log',
  );
  ctx.progress(1, 1, 'echo');
  return {
    headlines: [],
    tables: [
      {
        title: `Echo at ${ctx.target!.echo}, 20 connections × 100 msg/s (server CPU not visible from here)`,
        columns: ['target', 'p50 ms', 'p99 ms', 'p99.9 ms'],
        rows: s.targets.map((t) => [
          t.label,
          round(t.latencyMs.p50, 3),
          round(t.latencyMs.p99, 3),
          round(t.latencyMs.p99_9, 3),
        ]),
      },
    ],
    plots: [],
    raw: s,
  };
}

export const latency: Experiment = {
  name: 'latency',
  title: 'Latency lab: WebSocket echo vs raw TCP',
  run: (ctx) => (ctx.target ? remote(ctx) : local(ctx)),
};

import { signToken } from '@gavel/shared';
import { uniqueId } from '@gavel/shared/testing';
import { LoadGenerator, latencySummary } from '../../../services/api/bench/harness.js';
import type { LoadSpec } from '../../../services/api/bench/load-spec.js';
import { runChildBench, readReport } from '../child-bench.js';
import type { Experiment, ExperimentContext, Headline, Plot, Table } from '../experiment.js';
import { lineChart } from '../report/svg-chart.js';
import { median, metricsCpuSeconds, round } from './stats.js';

/** What services/api/bench/contention.ts writes (the parts read here). */
interface ApiRun {
  readonly round: number;
  readonly answers: number;
  readonly perSecond: number;
  readonly cpuUsPerAnswer: number;
  readonly statuses: Record<string, number>;
  readonly histogram: string;
}
interface BidReport {
  readonly cpu: Record<'floor' | 'jwt_accepted' | 'jwt_rejected' | 'open_accepted', ApiRun[]>;
  readonly contention: Record<string, Record<'floor' | 'lua' | 'optimistic', ApiRun[]>>;
}

const perRoundRatio = (runs: readonly ApiRun[], floor: readonly ApiRun[]) =>
  median(runs.map((r) => r.cpuUsPerAnswer / (floor.find((f) => f.round === r.round)?.cpuUsPerAnswer ?? NaN)));

function accepted(runs: readonly ApiRun[]): number {
  const seconds = runs.reduce((a, r) => a + r.answers / Math.max(1, r.perSecond), 0);
  return runs.reduce((a, r) => a + (r.statuses['201'] ?? 0), 0) / Math.max(seconds, 1e-9);
}

async function local(ctx: ExperimentContext) {
  await runChildBench(
    {
      script: 'services/api/bench/contention.ts',
      log: 'contention.log',
      settings: ctx.quick
        ? {
            cpuRounds: 1,
            cpuRunS: 1,
            warmupS: 1,
            levels: [10],
            contentionRounds: 1,
            contentionRunS: 1,
            fromSource: true,
          }
        : {},
    },
    ctx,
  );
  const r = await readReport<BidReport>(ctx, 'bid-contention.json');
  const floor = median(r.cpu.floor.map((x) => x.cpuUsPerAnswer));
  const headline = (key: keyof BidReport['cpu'], what: string, target?: number): Headline => {
    const value = median(r.cpu[key].map((x) => x.cpuUsPerAnswer));
    const ratio = perRoundRatio(r.cpu[key], r.cpu.floor);
    return {
      what,
      value: round(value, 0),
      unit: 'µs CPU/answer',
      baseline: 'bare node:http floor',
      baselineValue: round(floor, 0),
      ratio,
      ...(target === undefined ? {} : { target: `≤ ${target}× floor`, met: ratio <= target }),
    };
  };
  const levels = Object.keys(r.contention)
    .map(Number)
    .sort((a, b) => a - b);
  const rows = levels.map((level) => {
    const byKey = r.contention[level]!;
    const floorLevel = median(byKey.floor.map((x) => x.cpuUsPerAnswer));
    const lua = byKey.lua;
    const opt = byKey.optimistic;
    return [
      level,
      round(accepted(lua), 0),
      round(accepted(opt), 0),
      latencySummary(lua.map((x) => x.histogram)).p99,
      latencySummary(opt.map((x) => x.histogram)).p99,
      round(median(lua.map((x) => x.cpuUsPerAnswer)) / floorLevel),
      round(median(opt.map((x) => x.cpuUsPerAnswer)) / floorLevel),
    ];
  });
  const table: Table = {
    title: 'Bidders racing on one item (jwt mode): lua vs optimistic',
    columns: [
      'bidders',
      'lua accepted/s',
      'optimistic accepted/s',
      'lua p99 ms',
      'optimistic p99 ms',
      'lua CPU × floor',
      'optimistic CPU × floor',
    ],
    rows,
  };
  const plot: Plot = {
    file: 'bench-contention.svg',
    title: 'Accepted bids per second on one contended item',
    svg: lineChart({
      title: 'Accepted bids/s on one item, by number of bidders',
      subtitle: 'api (jwt), one autocannon connection per bidder, load from a separate process',
      xLabel: 'bidders (log scale)',
      yLabel: 'accepted bids/s',
      logX: true,
      series: [
        { label: 'lua (one EVALSHA)', points: rows.map((row) => ({ x: Number(row[0]), y: Number(row[1]) })) },
        {
          label: 'optimistic (WATCH/MULTI/EXEC)',
          points: rows.map((row) => ({ x: Number(row[0]), y: Number(row[2]) })),
        },
      ],
    }),
  };
  return {
    headlines: [
      headline('jwt_accepted', 'accepted bid, jwt mode', 2.5),
      headline('jwt_rejected', 'rejected bid (409), jwt mode', 2),
      headline('open_accepted', 'accepted bid, open mode'),
    ],
    tables: [table],
    plots: [plot],
    details: 'bid-contention.md',
    raw: { settings: ctx.quick ? 'quick' : 'full', levels: rows },
  };
}

/** Against a deployed api: lua only (its configured strategy), CPU from its /metrics when reachable. */
async function remote(ctx: ExperimentContext) {
  const t = ctx.target!;
  if (!t.authSecret)
    throw new Error('--target needs --auth-secret (or GAVEL_AUTH_SECRET) to sign bidder tokens');
  const levels = ctx.quick ? [1, 10] : [1, 10, 100, 500];
  const tokens = await Promise.all(
    Array.from({ length: 500 }, (_, i) => signToken(t.authSecret!, `bench_u${i}`)),
  );
  const generator = await LoadGenerator.start();
  const rows: Array<Array<string | number>> = [];
  try {
    for (const [i, level] of levels.entries()) {
      const item = uniqueId('bench_item');
      const created = await fetch(`${t.api}/api/v1/items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[0]}` },
        body: JSON.stringify({
          id: item,
          title: 'bench',
          startingPrice: '1.00',
          minIncrement: '0.01',
          endsAt: Date.now() + 3600_000,
        }),
      });
      if (created.status !== 201) throw new Error(`creating an item at ${t.api}: HTTP ${created.status}`);
      const spec: LoadSpec = {
        url: t.api,
        connections: level,
        durationS: ctx.quick ? 2 : 10,
        paths: [`/api/v1/items/${item}/bid`],
        tokens: tokens.slice(0, level),
        users: [],
        amount: { kind: 'shared', startCents: 100 },
        classifyConflicts: true,
      };
      const cpu0 = await metricsCpuSeconds(t.api);
      const result = await generator.run(spec);
      const cpu = (await metricsCpuSeconds(t.api)) - cpu0;
      const lat = latencySummary([result.histogram]);
      rows.push([
        level,
        round(result.answers / result.seconds, 0),
        round((result.statuses['201'] ?? 0) / result.seconds, 0),
        lat.p50,
        lat.p99,
        round((cpu * 1e6) / result.answers, 0),
      ]);
      ctx.progress(i + 1, levels.length, `${level} bidders`);
    }
  } finally {
    generator.stop();
  }
  return {
    headlines: [],
    tables: [
      {
        title: `Bidders racing on one item at ${t.api} (the stack's strategy; CPU from its /metrics, n/a when not reachable)`,
        columns: ['bidders', 'answers/s', 'accepted/s', 'p50 ms', 'p99 ms', 'api CPU µs/answer'],
        rows,
      },
    ],
    plots: [],
    raw: { levels: rows },
  };
}

export const contention: Experiment = {
  name: 'contention',
  title: 'Bid path and write contention (seed 004 experiment 1)',
  run: (ctx) => (ctx.target ? remote(ctx) : local(ctx)),
};

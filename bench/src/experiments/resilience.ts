import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChildBench, readReport } from '../child-bench.js';
import type { Experiment, ExperimentContext } from '../experiment.js';
import { round } from './stats.js';

/** What bench/src/resilience/run.ts writes (the parts read here). */
interface ResilienceReport {
  readonly settings: { rate: number; downS: number; components: string[] };
  readonly steady: { acceptedPerS: number; apiCpuUsPerAccepted: number };
  readonly wholeRun: { seconds: number; acceptedByClients: number; apiCpuUsPerAccepted: number };
  readonly outages: ReadonlyArray<{
    component: string;
    downS: number;
    ratePerSBefore: number;
    lowestRatePerS: number;
    errors: number;
    refusedByStatus: Record<string, number>;
    bidPathRecoveryS: number | null;
    watchersCaughtUpS: number | null;
    archiveCaughtUpS: number | null;
  }>;
  readonly final: {
    bidCount: number;
    archived: number;
    lost: number;
    missingAtSlowestWatcher: number;
    duplicates: number;
  };
}

const secs = (v: number | null) => (v === null ? 'not within the wait' : round(v, 1));

async function run(ctx: ExperimentContext) {
  await runChildBench(
    {
      script: 'bench/src/resilience/run.ts',
      log: 'resilience.log',
      env: ctx.quick ? { GAVEL_RESILIENCE_COMPONENTS: 'api,redis' } : {},
      settings: ctx.quick
        ? { rate: 50, connections: 5, watchers: 5, steadyS: 2, downS: 1, settleS: 1, catchUpS: 20 }
        : {},
    },
    ctx,
  );
  const r = await readReport<ResilienceReport>(ctx, 'resilience.json');
  const svg = await readFile(join(ctx.outDir, 'resilience.svg'), 'utf8');
  return {
    headlines: [
      {
        what: `api CPU per accepted bid over the whole run, every component killed in turn`,
        value: round(r.wholeRun.apiCpuUsPerAccepted, 0),
        unit: 'µs',
        baseline: 'the same api before any kill',
        baselineValue: round(r.steady.apiCpuUsPerAccepted, 0),
        ratio: r.wholeRun.apiCpuUsPerAccepted / r.steady.apiCpuUsPerAccepted,
      },
      {
        what: `accepted bids missing from PostgreSQL or from a watcher after the run`,
        value: r.final.lost + r.final.missingAtSlowestWatcher,
        unit: 'bids',
        baseline: 'bids accepted',
        baselineValue: r.final.bidCount,
        ratio: (r.final.lost + r.final.missingAtSlowestWatcher) / Math.max(1, r.final.bidCount),
        target: '0 lost',
        met: r.final.lost === 0 && r.final.missingAtSlowestWatcher === 0,
      },
    ],
    tables: [
      {
        title: `Each component killed (-9) and started again ${r.settings.downS} s later; ${r.settings.rate} bids/s offered (steady: ${round(r.steady.acceptedPerS, 0)} accepted/s)`,
        columns: [
          'killed',
          'down s',
          'accepted/s before',
          'lowest accepted/s',
          'errors seen by bidders',
          'bid path back (s after kill)',
          'watchers caught up (s)',
          'PostgreSQL caught up (s)',
        ],
        rows: r.outages.map((o) => [
          o.component,
          round(o.downS, 1),
          round(o.ratePerSBefore, 0),
          o.lowestRatePerS,
          `${o.errors}${
            Object.keys(o.refusedByStatus).length
              ? ` (${Object.entries(o.refusedByStatus)
                  .map(([k, v]) => `${k}: ${v}`)
                  .join(', ')})`
              : ''
          }`,
          secs(o.bidPathRecoveryS),
          secs(o.watchersCaughtUpS),
          secs(o.archiveCaughtUpS),
        ]),
      },
      {
        title: 'After the run',
        columns: [
          'bids accepted (item)',
          'in PostgreSQL',
          'lost',
          'missing at the slowest watcher',
          'duplicates at watchers',
        ],
        rows: [
          [
            r.final.bidCount,
            r.final.archived,
            r.final.lost,
            r.final.missingAtSlowestWatcher,
            r.final.duplicates,
          ],
        ],
      },
    ],
    plots: [
      {
        file: 'resilience.svg',
        title: 'Accepted bids and errors per second while components are killed',
        svg,
      },
    ],
    raw: r,
  };
}

export const resilience: Experiment = {
  name: 'resilience',
  title: 'Resilience: each component killed in turn (seed 004 experiment 3)',
  localOnly: 'kills processes with kill -9 and starts its own Redis, NATS and PostgreSQL on this machine',
  run,
};

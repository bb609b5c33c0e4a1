/**
 * `npm run bench` — every experiment of seed 004 against the local stack (or, with --target, a
 * deployed one), each beside its baseline, then one report: docs/results/bench.{md,json} and plots.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCli } from './cli.js';
import { experiments } from './experiments/index.js';
import type { ExperimentContext, ExperimentResult } from './experiment.js';
import { describeMachine, finishMachine } from './machine.js';
import { BenchProgress } from './progress.js';
import { writeReport } from './report/write-report.js';

const options = parseCli(process.argv);
const started = new Date();
const machine = describeMachine(options.note);
const logDir = join(options.outDir, 'logs');
await mkdir(logDir, { recursive: true });
const progress = new BenchProgress();
const results: ExperimentResult[] = [];
for (const experiment of experiments.filter((e) => options.only.includes(e.name as never))) {
  const bar = progress.start(experiment.name);
  const t0 = performance.now();
  const base = { name: experiment.name, title: experiment.title };
  if (options.target && experiment.localOnly) {
    results.push({
      ...base,
      status: 'skipped',
      reason: experiment.localOnly,
      seconds: 0,
      headlines: [],
      tables: [],
      plots: [],
    });
    bar.stop('skipped (local only)');
    continue;
  }
  const ctx: ExperimentContext = {
    quick: options.quick,
    target: options.target,
    outDir: options.outDir,
    logDir,
    progress: (done, total, label) => bar.update(done, total, label),
  };
  try {
    const out = await experiment.run(ctx);
    results.push({ ...base, status: 'ok', seconds: (performance.now() - t0) / 1000, ...out });
    bar.stop('done');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    results.push({
      ...base,
      status: 'failed',
      reason,
      seconds: (performance.now() - t0) / 1000,
      headlines: [],
      tables: [],
      plots: [],
    });
    bar.stop('failed');
  }
}
progress.stop();
finishMachine(machine);
const path = await writeReport(
  options.outDir,
  {
    started: started.toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    quick: options.quick,
    target: options.target?.api,
  },
  machine,
  results,
);
process.stderr.write(`\nreport: ${path}\n`);
for (const r of results.filter((x) => x.status === 'failed'))
  process.stderr.write(`${r.name} failed: ${r.reason}\n`);
process.exit(results.some((r) => r.status === 'failed') ? 1 : 0);

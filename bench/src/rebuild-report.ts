/**
 * Puts the fan-out experiment of a separate run of its benchmark into an existing harness report:
 *
 *   node --conditions=source --import tsx bench/src/rebuild-report.ts <results dir> <fan-out run dir>
 *
 * copies the run's broadcast-fanout.{md,json} into the results folder and rewrites bench.md and
 * bench.json with the fan-out section taken from it (the rest as it was). For a fan-out benchmark
 * re-run with other sizes (GAVEL_BENCH_SETTINGS) after a harness run.
 */
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExperimentResult } from './experiment.js';
import { summarizeFanout, type FanoutReport } from './experiments/fanout.js';
import type { Machine } from './machine.js';
import { writeReport } from './report/write-report.js';
import type { RunInfo } from './report/markdown.js';

const [resultsDir, fanoutDir] = process.argv.slice(2);
if (!resultsDir || !fanoutDir) {
  process.stderr.write('usage: rebuild-report.ts <results dir> <fan-out run dir>\n');
  process.exit(2);
}
const bench = JSON.parse(await readFile(join(resultsDir, 'bench.json'), 'utf8')) as RunInfo & {
  machine: Machine;
  experiments: Array<Omit<ExperimentResult, 'plots'> & { plots: Array<{ file: string; title: string }> }>;
};
for (const f of ['broadcast-fanout.json', 'broadcast-fanout.md'])
  await copyFile(join(fanoutDir, f), join(resultsDir, f));
const fanout = JSON.parse(
  await readFile(join(resultsDir, 'broadcast-fanout.json'), 'utf8'),
) as FanoutReport & {
  started: string;
};
const summary = summarizeFanout(fanout);
const experiments: ExperimentResult[] = [];
for (const e of bench.experiments) {
  if (e.name === 'fanout') {
    experiments.push({
      name: e.name,
      title: e.title,
      status: 'ok',
      seconds: Number.NaN,
      ...summary,
      reason: `re-run alone at ${fanout.started} (the harness run's fan-out failed or was resized)`,
    });
    continue;
  }
  // The other experiments' plots are on disk already; read them back to write them unchanged.
  const plots = await Promise.all(
    e.plots.map(async (p) => ({ ...p, svg: await readFile(join(resultsDir, p.file), 'utf8') })),
  );
  experiments.push({ ...e, plots });
}
const { machine, experiments: _old, ...info } = bench;
await writeReport(resultsDir, info, machine, experiments);
process.stderr.write(`rebuilt ${join(resultsDir, 'bench.md')}\n`);

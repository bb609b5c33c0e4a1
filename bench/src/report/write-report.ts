import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExperimentResult } from '../experiment.js';
import type { Machine } from '../machine.js';
import { renderMarkdown, type RunInfo } from './markdown.js';

/** Writes bench.md, bench.json and every plot into `outDir`; returns the Markdown's path. */
export async function writeReport(
  outDir: string,
  info: RunInfo,
  machine: Machine,
  results: readonly ExperimentResult[],
): Promise<string> {
  await mkdir(outDir, { recursive: true });
  for (const r of results) for (const p of r.plots) await writeFile(join(outDir, p.file), p.svg);
  const raw = {
    ...info,
    machine,
    experiments: results.map((r) => ({
      ...r,
      plots: r.plots.map((p) => ({ file: p.file, title: p.title })),
    })),
  };
  await writeFile(join(outDir, 'bench.json'), `${JSON.stringify(raw, null, 2)}\n`);
  const path = join(outDir, 'bench.md');
  await writeFile(path, renderMarkdown(info, machine, results));
  return path;
}

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { percentileDistribution, type Histogram } from './latency-histogram.js';
import { renderPercentilePlot } from './percentile-plot.js';

/** A label as a file name: lowercase letters, digits and dashes. */
export function fileSlug(label: string): string {
  return (
    label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'target'
  );
}

export interface ReportSeries {
  readonly label: string;
  readonly histogram: Histogram;
}

/**
 * Writes `<prefix>.json` (the summary), one `<prefix>-<label>.hgrm` per series and
 * `<prefix>.svg` (all series on one plot) into `outDir`. Returns the file names, which the
 * summary also records.
 */
export async function writeReportFiles(
  outDir: string,
  prefix: string,
  series: readonly ReportSeries[],
  summary: { targets: Array<{ hgrm?: string }>; plot?: string },
  plot: { title: string; subtitle?: string },
): Promise<{ json: string; svg: string; hgrm: string[] }> {
  await mkdir(outDir, { recursive: true });
  const used = new Set<string>();
  const hgrm: string[] = [];
  for (const [index, s] of series.entries()) {
    let name = `${prefix}-${fileSlug(s.label)}.hgrm`;
    if (used.has(name)) name = `${prefix}-${fileSlug(s.label)}-${index + 1}.hgrm`;
    used.add(name);
    hgrm.push(name);
    await writeFile(join(outDir, name), percentileDistribution(s.histogram));
    const target = summary.targets[index];
    if (target) target.hgrm = name;
  }
  const svg = `${prefix}.svg`;
  await writeFile(join(outDir, svg), renderPercentilePlot(series, plot));
  summary.plot = svg;
  const json = `${prefix}.json`;
  await writeFile(join(outDir, json), `${JSON.stringify(summary, null, 2)}\n`);
  return { json, svg, hgrm };
}

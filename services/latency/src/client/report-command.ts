import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { UsageError } from './cli-options.js';
import { reportCompare, type CompareSummary } from './compare-command.js';
import type { CommandIo } from './echo-command.js';
import { decodeHistogram } from './latency-histogram.js';

const compareLine = z.looseObject({
  tool: z.literal('gavel-latency'),
  mode: z.literal('compare'),
  targets: z
    .array(z.looseObject({ label: z.string(), target: z.string(), histogram: z.string().min(1) }))
    .min(1),
});

/**
 * Finds the compare summary in `text`: a JSON file, or the compare Job's log, whose last JSON
 * line starting with {"tool":"gavel-latency" is the summary (`kubectl logs job/…`).
 */
export function findCompareSummary(text: string, source: string): CompareSummary {
  const candidates = [text, ...text.split('\n').reverse()]
    .map((t) => t.trim())
    .filter((t) => t.startsWith('{'));
  for (const candidate of candidates) {
    let json: unknown;
    try {
      json = JSON.parse(candidate);
    } catch {
      continue;
    }
    if (compareLine.safeParse(json).success) return json as CompareSummary;
  }
  throw new UsageError(
    `${source} holds no compare summary (the JSON line gavel-latency compare --json prints)`,
  );
}

/**
 * `gavel-latency report <file>`: redraws a compare report (table, .hgrm files, SVG) from its
 * JSON summary, e.g. the compare Job's log, where the pod's own files are gone.
 */
export async function runReportCommand(
  file: string,
  options: { out?: string },
  io: CommandIo,
): Promise<number> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const summary = findCompareSummary(text, file === '-' ? 'stdin' : file);
  const series = summary.targets.map((t) => ({ label: t.label, histogram: decodeHistogram(t.histogram!) }));
  await reportCompare(summary, series, { out: options.out, json: false }, io);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

import { readFile } from 'node:fs/promises';
import { latencyLabSchema, type LatencyLab } from '@gavel/shared';
import { UsageError } from './cli-options.js';

/**
 * Reads the compare mode's targets: the platform outputs file (its `latencyLab` block, as
 * `npm run outputs -w platform` writes it) or that block alone. Refuses a file without one,
 * naming every bad field.
 */
export async function readTargetsFile(path: string): Promise<LatencyLab> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --targets-file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--targets-file ${path} is not JSON: ${(err as Error).message}`);
  }
  const block =
    json && typeof json === 'object' && 'latencyLab' in json
      ? (json as { latencyLab: unknown }).latencyLab
      : json;
  if (json && typeof json === 'object' && 'clusterName' in json && !('latencyLab' in json)) {
    throw new UsageError(
      `--targets-file ${path} is platform outputs without a latencyLab block: turn on latencyLabEnabled, pulumi up, write the outputs again`,
    );
  }
  const parsed = latencyLabSchema.safeParse(block);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new UsageError(
      `--targets-file ${path} is not a latency lab targets file:\n  ${problems.join('\n  ')}`,
    );
  }
  return parsed.data;
}

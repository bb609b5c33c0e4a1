import { readFileSync } from 'node:fs';
import { platformOutputsSchema, type PlatformOutputs } from '@gavel/shared';

export type { PlatformOutputs };
export type Taint = PlatformOutputs['nodePools']['latency']['taints'][number];

export class PlatformOutputsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlatformOutputsError';
  }
}

/**
 * Reads and validates the platform outputs JSON (written by `platform/`). A missing file, bad
 * JSON or a wrong shape throws a PlatformOutputsError naming the file and every bad field.
 */
export function readPlatformOutputs(path: string): PlatformOutputs {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PlatformOutputsError(`cannot read platform outputs ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new PlatformOutputsError(`platform outputs ${path} is not JSON: ${(err as Error).message}`);
  }
  const parsed = platformOutputsSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new PlatformOutputsError(`platform outputs ${path} has a bad shape:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

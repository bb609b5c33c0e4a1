import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { Weights } from './config.js';

export class WeightsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightsError';
  }
}

const percent = z.number().int().min(0).max(100);

export const weightsSchema = z
  .object({ blue: percent, green: percent })
  .strict()
  .refine((w) => w.blue + w.green === 100, 'blue + green must be 100');

/** Parses a CLI percentage: digits only, so "50.5", "1e2" and "" are refused, not rounded. */
function parsePercent(flag: string, value: string): number {
  if (!/^\d{1,3}$/.test(value.trim())) {
    throw new WeightsError(`--${flag} must be an integer from 0 to 100, got "${value}"`);
  }
  const n = Number(value.trim());
  if (n > 100) throw new WeightsError(`--${flag} must be an integer from 0 to 100, got "${value}"`);
  return n;
}

/**
 * Turns `--blue` and/or `--green` into a split. One flag implies the other (100 minus it);
 * both must sum to 100.
 */
export function weightsFromFlags(flags: { readonly blue?: string; readonly green?: string }): Weights {
  if (flags.blue === undefined && flags.green === undefined) {
    throw new WeightsError('give --blue and/or --green (integers from 0 to 100 that sum to 100)');
  }
  const blue = flags.blue === undefined ? undefined : parsePercent('blue', flags.blue);
  const green = flags.green === undefined ? undefined : parsePercent('green', flags.green);
  const split = { blue: blue ?? 100 - (green ?? 0), green: green ?? 100 - (blue ?? 0) };
  if (split.blue + split.green !== 100) {
    throw new WeightsError(`--blue ${split.blue} and --green ${split.green} must sum to 100`);
  }
  return split;
}

export function readWeights(path: string): Weights {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new WeightsError(`cannot read weights ${path}: ${(err as Error).message}`);
  }
  const parsed = weightsSchema.safeParse(json);
  if (!parsed.success) {
    throw new WeightsError(
      `weights ${path} is invalid: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  return parsed.data;
}

/** Writes through a temp file and a rename, so a crash never leaves a half-written split. */
export function writeWeights(path: string, weights: Weights): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify({ blue: weights.blue, green: weights.green }, null, 2)}\n`);
  renameSync(tmp, path);
}

import { resolve } from 'node:path';

/**
 * What a service's benchmark shares with the bench harness (`npm run bench` at the root), which
 * forks it with an IPC channel: the sizes it should run at, where its reports go, and how far it
 * has got. Run alone, a benchmark uses its own defaults, writes to docs/results and reports no
 * progress beyond its own log lines.
 */

/** Sizes over a benchmark's defaults, as JSON (`{"rounds":1,"seconds":2}`), set by the harness. */
export const BENCH_SETTINGS_ENV = 'GAVEL_BENCH_SETTINGS';
/** The folder its Markdown, JSON and SVG go to. */
export const BENCH_RESULTS_DIR_ENV = 'GAVEL_BENCH_RESULTS_DIR';

/** A progress message from a forked benchmark to the harness. */
export interface BenchProgressMessage {
  readonly type: 'bench:progress';
  readonly done: number;
  readonly total: number;
  readonly label: string;
}

type Setting = number | boolean | string | readonly number[] | readonly string[];

/**
 * The benchmark's settings: `defaults`, each overridden by the harness's value of the same key
 * and type. A key it does not know, or a value of another type, stops the run (exit 2) rather than
 * being silently ignored: a smoke run must not quietly turn into a full one.
 */
export function benchSettings<T extends Record<string, Setting>>(defaults: T): T {
  const raw = process.env[BENCH_SETTINGS_ENV];
  if (!raw) return defaults;
  let given: unknown;
  try {
    given = JSON.parse(raw);
  } catch {
    return badSettings(`${BENCH_SETTINGS_ENV} is not JSON`);
  }
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    return badSettings(`${BENCH_SETTINGS_ENV} must be a JSON object`);
  const out: Record<string, Setting> = { ...defaults };
  for (const [key, value] of Object.entries(given)) {
    const fallback = defaults[key];
    if (fallback === undefined) return badSettings(`${BENCH_SETTINGS_ENV}: unknown key ${key}`);
    const sameType = Array.isArray(fallback)
      ? Array.isArray(value) && value.every((v) => typeof v === typeof (fallback[0] ?? v))
      : typeof value === typeof fallback;
    if (!sameType)
      return badSettings(`${BENCH_SETTINGS_ENV}: ${key} must be like ${JSON.stringify(fallback)}`);
    out[key] = value as Setting;
  }
  return out as T;
}

function badSettings(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** Where the benchmark writes its reports: the harness's folder, else docs/results. */
export function benchResultsDir(repoRoot: string): string {
  return resolve(repoRoot, process.env[BENCH_RESULTS_DIR_ENV] || 'docs/results');
}

/**
 * Counts a benchmark's steps for the harness's progress bar. `total` is the number of steps the
 * run will take (measured runs, rounds); `step` marks one done.
 */
export function benchProgress(total: number): { step(label: string): void } {
  let done = 0;
  return {
    step(label: string) {
      done = Math.min(total, done + 1);
      const message: BenchProgressMessage = { type: 'bench:progress', done, total, label };
      process.send?.(message);
    },
  };
}

import { fork } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BENCH_RESULTS_DIR_ENV,
  BENCH_SETTINGS_ENV,
  REPO_ROOT,
  type BenchProgressMessage,
} from '@gavel/shared/testing';
import type { ExperimentContext } from './experiment.js';

export interface ChildBench {
  /** The benchmark's entry, from the repository root (a service's bench/…ts). */
  readonly script: string;
  /** Sizes over its defaults (GAVEL_BENCH_SETTINGS). */
  readonly settings?: Record<string, unknown>;
  /** Its own environment variables (the archival benchmark reads BENCH_*). */
  readonly env?: Record<string, string>;
  readonly args?: readonly string[];
  /** Log file name under ctx.logDir. */
  readonly log: string;
}

/**
 * Runs a service's own benchmark as a child process with an IPC channel: its progress messages
 * move the harness's bar, its output goes to a log file, its reports to the harness's folder.
 */
export async function runChildBench(bench: ChildBench, ctx: ExperimentContext): Promise<void> {
  const logPath = join(ctx.logDir, bench.log);
  const log = createWriteStream(logPath);
  const child = fork(join(REPO_ROOT, bench.script), [...(bench.args ?? [])], {
    cwd: REPO_ROOT,
    execArgv: ['--conditions=source', '--import', 'tsx'],
    env: {
      ...process.env,
      ...bench.env,
      ...(bench.settings ? { [BENCH_SETTINGS_ENV]: JSON.stringify(bench.settings) } : {}),
      [BENCH_RESULTS_DIR_ENV]: ctx.outDir,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.on('message', (m: BenchProgressMessage) => {
    if (m?.type === 'bench:progress') ctx.progress(m.done, m.total, m.label);
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  await new Promise<void>((resolve) => log.end(resolve));
  if (code !== 0) {
    const tail = (await readFile(logPath, 'utf8')).split('\n').slice(-25).join('\n');
    throw new Error(`${bench.script} exited with ${code}; last lines of ${logPath}:\n${tail}`);
  }
}

/** Reads a JSON report a child benchmark wrote to the results folder. */
export async function readReport<T>(ctx: ExperimentContext, file: string): Promise<T> {
  return JSON.parse(await readFile(join(ctx.outDir, file), 'utf8')) as T;
}

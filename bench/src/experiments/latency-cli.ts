import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@gavel/shared/testing';
import type { ExperimentContext } from '../experiment.js';

/**
 * Runs the latency lab's client (`gavel-latency`, services/latency) with --json and returns its
 * summary: the harness's way to reach a deployed stack's echo server and broadcast tier.
 */
export async function gavelLatency<T>(
  ctx: ExperimentContext,
  args: readonly string[],
  log: string,
): Promise<T> {
  const logFile = createWriteStream(join(ctx.logDir, log));
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      'services/latency/src/cli.ts',
      ...args,
      '--json',
      '--no-progress',
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.pipe(logFile);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  logFile.end();
  if (code !== 0) throw new Error(`gavel-latency ${args[0]} exited with ${code} (see ${log})`);
  return JSON.parse(out) as T;
}

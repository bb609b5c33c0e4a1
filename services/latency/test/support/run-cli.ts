import { spawn } from 'node:child_process';
import { REPO_ROOT } from '@gavel/shared/testing';

export interface CliOutcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the gavel-latency CLI from source in its own process, as a user would. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliOutcome> {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'services/latency/src/cli.ts', ...args],
    { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

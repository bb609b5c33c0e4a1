import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Generous: each run starts node + tsx, and CI machines are shared. Not a speed assertion. */
export const CLI_TIMEOUT_MS = 180_000;

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Runs one of the charts-ts commands as users do (node + tsx from source) and waits for it. */
export function runCli(entry: 'synth' | 'weights-command' | 'images-command', args: readonly string[]) {
  const result = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', `src/${entry}.ts`, ...args],
    {
      cwd: PACKAGE_DIR,
      encoding: 'utf8',
      timeout: CLI_TIMEOUT_MS - 10_000,
      env: { ...process.env, GAVEL_PLATFORM_OUTPUTS: '' },
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { platformOutputsSchema } from '@gavel/shared';
import type { PlatformOutputs } from '@gavel/shared';

const run = promisify(execFile);

export class PlatformOutputsError extends Error {
  override name = 'PlatformOutputsError';
}

/** Parses `pulumi stack output --json platformOutputs` and checks it against the shared schema. */
export function parsePlatformOutputs(json: string, source: string): PlatformOutputs {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new PlatformOutputsError(`${source} is not JSON: ${(err as Error).message}`);
  }
  const parsed = platformOutputsSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new PlatformOutputsError(
      `${source} does not match platformOutputsSchema; refusing to write it:\n${problems.join('\n')}`,
    );
  }
  return parsed.data;
}

export function formatPlatformOutputs(outputs: PlatformOutputs): string {
  return `${JSON.stringify(outputs, null, 2)}\n`;
}

/** Validates, then writes to `out` (creating its directory) or returns the text for stdout. */
export function writePlatformOutputs(json: string, source: string, out?: string): string {
  const text = formatPlatformOutputs(parsePlatformOutputs(json, source));
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
  }
  return text;
}

export interface StackOutputOptions {
  /** Directory holding Pulumi.yaml. */
  readonly cwd: string;
  /** @default 'pulumi' (from PATH) */
  readonly pulumiBinary?: string;
}

/** Runs the Pulumi CLI for the stack's `platformOutputs` (secrets stay masked; it has none). */
export async function readStackOutput(stack: string, options: StackOutputOptions): Promise<string> {
  const args = ['stack', 'output', '--json', '--show-secrets=false', '--stack', stack, 'platformOutputs'];
  try {
    const { stdout } = await run(options.pulumiBinary ?? 'pulumi', args, {
      cwd: options.cwd,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const { stderr, message } = err as { stderr?: string; message: string };
    throw new PlatformOutputsError(`pulumi ${args.join(' ')} failed: ${(stderr || message).trim()}`);
  }
}

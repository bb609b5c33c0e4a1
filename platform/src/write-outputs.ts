import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readStackOutput, writePlatformOutputs } from './outputs-file.js';

// Writes the stack's platformOutputs as the JSON charts-ts's eks profile reads:
//   npm run -s outputs -w platform -- --stack dev --out charts-ts/platform-outputs.json
// Without --out the JSON goes to stdout. Relative paths are taken from where npm was started.

const usage = 'usage: write-outputs --stack <name> [--out <file>]';
const projectDir = fileURLToPath(new URL('..', import.meta.url));

try {
  const { values } = parseArgs({
    options: { stack: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  if (!values.stack) throw new Error(`--stack is required\n${usage}`);
  const startDir = process.env.INIT_CWD ?? process.cwd();
  const out = values.out ? resolve(startDir, values.out) : undefined;
  const json = await readStackOutput(values.stack, { cwd: projectDir });
  const text = writePlatformOutputs(json, `stack ${values.stack} output platformOutputs`, out);
  if (out) process.stderr.write(`wrote ${out}\n`);
  else process.stdout.write(text);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}

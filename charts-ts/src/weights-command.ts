import { relative, resolve } from 'node:path';
import { Command } from 'commander';
import { DEFAULT_WEIGHTS_FILE, resolveTargets, synthTargets } from './synth-options.js';
import { runCommand } from './run-command.js';
import { weightsFromFlags, writeWeights } from './weights.js';

const program = new Command('weights')
  .description('Set the blue/green split of the WebSocket tier (e.g. --green 50) and re-synthesize')
  .option('--blue <percent>', 'share of new sessions for broadcast-blue (0..100)')
  .option('--green <percent>', 'share of new sessions for broadcast-green (0..100)')
  .option('--weights-file <path>', 'where the split is kept (default: charts-ts/weights.json)')
  .option('--out <dir>', 'output directory of the re-synthesis (default: charts-ts/dist)')
  .option('--platform-outputs <path>', 'platform outputs JSON for the eks profile');

runCommand(() => {
  program.parse();
  const o = program.opts<{
    blue?: string;
    green?: string;
    weightsFile?: string;
    out?: string;
    platformOutputs?: string;
  }>();
  const weights = weightsFromFlags(o);
  // Everything that can refuse the input runs before the first write.
  const targets = resolveTargets(
    { ...(o.platformOutputs ? { platformOutputs: o.platformOutputs } : {}) },
    weights,
  );
  const file = resolve(o.weightsFile ?? DEFAULT_WEIGHTS_FILE);
  writeWeights(file, weights);
  console.log(`blue ${weights.blue} / green ${weights.green} -> ${relative(process.cwd(), file)}`);
  for (const out of synthTargets(targets, o.out)) console.log(`wrote ${relative(process.cwd(), out)}`);
});

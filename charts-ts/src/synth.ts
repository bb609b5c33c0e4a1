import { relative } from 'node:path';
import { Command, Option } from 'commander';
import { platformOutputsPath, resolveConfigs, synthConfigs } from './synth-options.js';
import { runCommand } from './run-command.js';

const program = new Command('synth')
  .description('Synthesize Kubernetes manifests into dist/<profile>/*.k8s.yaml')
  .addOption(
    new Option('--profile <name>', 'profile to synthesize').choices(['kind', 'eks', 'all']).default('all'),
  )
  .option('--out <dir>', 'output directory (default: charts-ts/dist)')
  .option('--weights-file <path>', 'blue/green split (default: charts-ts/weights.json)')
  .option('--platform-outputs <path>', 'platform outputs JSON for the eks profile')
  .option('--image-tag <tag>', 'tag of the Gavel images in ECR (eks)')
  .option('--metrics-adapter', 'a custom-metrics adapter exists: api also scales on requests per pod')
  .option('--keda', 'KEDA is installed: archival scales on JetStream consumer lag');

runCommand(() => {
  program.parse();
  const o = program.opts<{
    profile: 'kind' | 'eks' | 'all';
    out?: string;
    weightsFile?: string;
    platformOutputs?: string;
    imageTag?: string;
    metricsAdapter?: boolean;
    keda?: boolean;
  }>();
  const profiles = o.profile === 'all' ? (['kind', 'eks'] as const) : ([o.profile] as const);
  const configs = resolveConfigs({ ...o, profiles });
  if (profiles.includes('eks')) {
    console.log(`eks profile from ${relative(process.cwd(), platformOutputsPath(o.platformOutputs))}`);
  }
  for (const file of synthConfigs(configs, o.out)) console.log(`wrote ${relative(process.cwd(), file)}`);
});

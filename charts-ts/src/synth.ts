import { relative } from 'node:path';
import { Command, Option } from 'commander';
import { resolveTargets, synthTargets, type Target } from './synth-options.js';
import { runCommand } from './run-command.js';

const program = new Command('synth')
  .description('Synthesize Kubernetes manifests into dist/<target>/*.k8s.yaml')
  .addOption(
    new Option(
      '--profile <name>',
      'what to synthesize (all: kind, eks-example, and eks when platform outputs exist)',
    )
      .choices(['kind', 'eks', 'eks-example', 'all'])
      .default('all'),
  )
  .option('--out <dir>', 'output directory (default: charts-ts/dist)')
  .option('--weights-file <path>', 'blue/green split (default: charts-ts/weights.json)')
  .option(
    '--platform-outputs <path>',
    'platform outputs JSON of the stack to deploy (default: charts-ts/platform-outputs.json)',
  )
  .option('--image-tag <tag>', 'tag of the Gavel images in ECR (default: the one `npm run images` pushed)')
  .option('--metrics-adapter', 'a custom-metrics adapter exists: api also scales on requests per pod')
  .option('--keda', 'KEDA is installed: archival scales on JetStream consumer lag')
  .option('--pod-monitors', 'Prometheus Operator is installed (eks): a PodMonitor per workload');

runCommand(() => {
  program.parse();
  const o = program.opts<{
    profile: Target | 'all';
    out?: string;
    weightsFile?: string;
    platformOutputs?: string;
    imageTag?: string;
    metricsAdapter?: boolean;
    keda?: boolean;
    podMonitors?: boolean;
  }>();
  const targets = resolveTargets({ ...o, ...(o.profile === 'all' ? {} : { targets: [o.profile] }) });
  for (const { target, source } of targets) {
    if (source) console.log(`${target} from ${relative(process.cwd(), source)} (apply this one)`);
  }
  for (const file of synthTargets(targets, o.out)) console.log(`wrote ${relative(process.cwd(), file)}`);
});

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { writeImageTags } from './image-tags.js';
import { describeStep, imageTag, planImages, type Step } from './images-plan.js';
import { PlatformOutputsError, readPlatformOutputs } from './platform-outputs.js';
import { runCommand } from './run-command.js';
import { IMAGE_TAGS_FILE, PACKAGE_DIR, REAL_PLATFORM_OUTPUTS } from './synth-options.js';

// Builds the four images from the one Dockerfile, tags them <version>-<git sha>, and with --push
// logs in to the stack's ECR registry, pushes, and writes charts-ts/images.json for synth:
//   npm run images -- --stack dev --push [--dry-run]

const ROOT = resolve(PACKAGE_DIR, '..');

const program = new Command('images')
  .description(
    'Build (and push to the stack ECR repositories) the api, broadcast, archival and latency images',
  )
  .requiredOption('--stack <name>', 'the Pulumi stack whose repositories to push to')
  .option('--push', 'log in to ECR, push, and write the tags for npm run synth')
  .option('--dry-run', 'print every docker and aws command instead of running it')
  .option(
    '--platform-outputs <path>',
    'platform outputs JSON of the stack (default: charts-ts/platform-outputs.json)',
  )
  .option('--image-tags-file <path>', 'where the pushed tags are written (default: charts-ts/images.json)')
  .option('--allow-dirty', 'build from a working tree with uncommitted changes (the tag says so)');

function git(...args: string[]): string {
  const result = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0)
    throw new PlatformOutputsError(`git ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

function run(step: Step): void {
  if (step.unless && spawnSync(step.unless[0]!, step.unless.slice(1), { stdio: 'ignore' }).status === 0) {
    console.log(`skip: ${step.why} (the tag is already in ECR)`);
    return;
  }
  console.log(`+ ${describeStep(step)}`);
  const input = step.stdinFrom
    ? spawnSync(step.stdinFrom[0]!, step.stdinFrom.slice(1), {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : undefined;
  if (input && input.status !== 0)
    throw new PlatformOutputsError(`${step.stdinFrom!.join(' ')} failed (exit ${input.status})`);
  const result = spawnSync(step.argv[0]!, step.argv.slice(1), {
    stdio: [input ? 'pipe' : 'inherit', 'inherit', 'inherit'],
    ...(input ? { input: input.stdout } : {}),
  });
  if (result.error)
    throw new PlatformOutputsError(`${step.argv[0]} could not start: ${result.error.message}`);
  if (result.status !== 0)
    throw new PlatformOutputsError(`${step.why} failed: ${step.argv.join(' ')} exited ${result.status}`);
}

runCommand(() => {
  program.parse();
  const o = program.opts<{
    stack: string;
    push?: boolean;
    dryRun?: boolean;
    platformOutputs?: string;
    imageTagsFile?: string;
    allowDirty?: boolean;
  }>();
  const startDir = process.env.INIT_CWD ?? process.cwd();
  const outputsFile = o.platformOutputs ? resolve(startDir, o.platformOutputs) : REAL_PLATFORM_OUTPUTS;
  const outputs = readPlatformOutputs(outputsFile);
  if (outputs.stack !== o.stack) {
    throw new PlatformOutputsError(
      `${relative(startDir, outputsFile)} describes stack ${outputs.stack}, not ${o.stack}: write it with ` +
        `\`npm run -s outputs -w platform -- --stack ${o.stack} --out charts-ts/platform-outputs.json\``,
    );
  }
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  const dirty = git('status', '--porcelain') !== '';
  if (dirty && !o.allowDirty) {
    throw new PlatformOutputsError(
      'the working tree has uncommitted changes: an image tag must name the commit it was built from (commit, or pass --allow-dirty)',
    );
  }
  const stamp = dirty ? new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14) : undefined;
  const tag = imageTag(version, git('rev-parse', '--short=12', 'HEAD'), stamp);
  const plan = planImages({ outputs, root: ROOT, tag, push: o.push ?? false });
  const tagsFile = o.imageTagsFile ? resolve(startDir, o.imageTagsFile) : IMAGE_TAGS_FILE;
  if (o.dryRun) {
    for (const step of plan.steps) console.log(describeStep(step));
    if (plan.tags)
      console.log(`# then write ${relative(startDir, tagsFile)} with tag ${tag} for npm run synth`);
    return;
  }
  for (const step of plan.steps) run(step);
  if (plan.tags) {
    writeImageTags(tagsFile, plan.tags);
    console.log(
      `wrote ${relative(startDir, tagsFile)}: stack ${outputs.stack}, tag ${tag}; next: npm run synth`,
    );
  }
});

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readImageTags, SERVICE_IMAGES, tagFor, writeImageTags } from '../src/image-tags.js';
import { describeStep, IMAGE_PORTS, imageTag, planImages } from '../src/images-plan.js';
import { readPlatformOutputs } from '../src/platform-outputs.js';
import { EXAMPLE_PLATFORM_OUTPUTS, PACKAGE_DIR, resolveTargets } from '../src/synth-options.js';
import { CLI_TIMEOUT_MS, runCli } from './cli.js';
import { find, podSpec, synthAll } from './helpers.js';

const outputs = readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS);
const registry = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const work = mkdtempSync(join(tmpdir(), 'gavel-images-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the images plan', () => {
  const tag = imageTag('0.1.0', '3f2a9c1d0b7e');
  const plan = planImages({ outputs, root: '/repo', tag, push: true });
  const lines = plan.steps.map(describeStep);

  it('logs in to the stack registry once, with the password piped from aws, before anything is pushed', () => {
    expect(lines[0]).toBe(
      `aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin ${registry}`,
    );
    expect(lines.filter((l) => l.includes('docker login'))).toHaveLength(1);
  });

  it('builds the four images from the one Dockerfile with their service and port, for amd64 nodes', () => {
    const builds = plan.steps.filter((s) => s.argv[1] === 'build');
    expect(builds.map((s) => s.argv.at(-1))).toEqual(['/repo', '/repo', '/repo', '/repo']);
    for (const [i, service] of SERVICE_IMAGES.entries()) {
      const argv = builds[i]!.argv;
      expect(argv).toEqual(
        expect.arrayContaining([
          '--file',
          '/repo/Dockerfile',
          `SERVICE=${service}`,
          `PORT=${IMAGE_PORTS[service]}`,
        ]),
      );
      expect(argv.join(' ')).toContain('--platform linux/amd64');
      expect(argv[argv.indexOf('--tag') + 1]).toBe(`${outputs.images[service]}:0.1.0-3f2a9c1d0b7e`);
    }
  });

  it('pushes each image after building it, unless that tag is already in its repository', () => {
    for (const service of SERVICE_IMAGES) {
      const build = lines.findIndex((l) => l.includes(`SERVICE=${service}`));
      const push = lines.indexOf(
        `aws ecr describe-images --region eu-west-1 --repository-name gavel/${service} --image-ids imageTag=${tag} >/dev/null 2>&1 || docker push ${outputs.images[service]}:${tag}`,
      );
      expect(push, service).toBeGreaterThan(build);
    }
    expect(plan.steps).toHaveLength(1 + 2 * SERVICE_IMAGES.length);
  });

  it('hands synth exactly the tag pushed, for the stack it was pushed to', () => {
    expect(plan.tags).toEqual({
      stack: 'dev',
      tag,
      images: Object.fromEntries(SERVICE_IMAGES.map((s) => [s, `${outputs.images[s]}:${tag}`])),
    });
    const file = join(work, 'images.json');
    writeImageTags(file, plan.tags!);
    expect(tagFor(readImageTags(file)!, outputs, file)).toBe(tag);
    const elsewhere = {
      ...outputs,
      stack: 'prod',
      images: { ...outputs.images, api: 'x.dkr.ecr.us-east-1.amazonaws.com/gavel-prod/api' },
    };
    expect(() => tagFor(readImageTags(file)!, elsewhere, file)).toThrow(
      /pushed for stack dev.*npm run images -- --stack prod --push/,
    );
  });

  it('only builds without --push: no login, no push, nothing for synth', () => {
    const local = planImages({ outputs, root: '/repo', tag, push: false });
    expect(local.steps.map((s) => s.argv.slice(0, 2).join(' '))).toEqual(Array(4).fill('docker build'));
    expect(local.tags).toBeUndefined();
  });

  it('makes synth deploy the pushed tag, and refuses an eks synth with no tag at all', () => {
    const file = join(work, 'synth-images.json');
    writeImageTags(file, plan.tags!);
    const [eks] = resolveTargets({
      targets: ['eks'],
      platformOutputs: EXAMPLE_PLATFORM_OUTPUTS,
      imageTagsFile: file,
    });
    expect(podSpec(find(synthAll(eks!.config), 'Deployment', 'api')).containers[0].image).toBe(
      plan.tags!.images.api,
    );
    expect(() =>
      resolveTargets({
        targets: ['eks'],
        platformOutputs: EXAMPLE_PLATFORM_OUTPUTS,
        imageTagsFile: join(work, 'none.json'),
      }),
    ).toThrow(/no image tag for stack dev: push the images with `npm run images -- --stack dev --push`/);
  });
});

describe('npm run images', () => {
  const outputsFile = join(work, 'outputs.json');
  writeFileSync(outputsFile, readFileSync(EXAMPLE_PLATFORM_OUTPUTS));
  const tagsFile = join(work, 'cli-images.json');
  const sha = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], {
    cwd: PACKAGE_DIR,
    encoding: 'utf8',
  }).stdout.trim();

  it(
    '--dry-run prints every docker and aws command, with the version and git sha, and runs none',
    () => {
      const result = runCli('images-command', [
        '--stack',
        'dev',
        '--push',
        '--dry-run',
        '--allow-dirty',
        '--platform-outputs',
        outputsFile,
        '--image-tags-file',
        tagsFile,
      ]);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const lines = result.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^aws ecr get-login-password --region eu-west-1 \| docker login /);
      expect(lines.filter((l) => / docker build /.test(` ${l}`))).toHaveLength(4);
      expect(lines.filter((l) => l.includes('docker push'))).toHaveLength(4);
      expect(result.stdout).toMatch(new RegExp(`gavel/api:0\\.1\\.0-${sha}(-dirty\\.\\d{14})?`));
      expect(existsSync(tagsFile)).toBe(false);
    },
    CLI_TIMEOUT_MS,
  );

  it.each([
    [['--stack', 'prod', '--dry-run', '--allow-dirty'], /describes stack dev, not prod/],
    [['--dry-run'], /required option '--stack <name>' not specified/],
  ])(
    'refuses %j with a clear error and writes nothing',
    (args, message) => {
      const result = runCli('images-command', [
        ...args,
        '--platform-outputs',
        outputsFile,
        '--image-tags-file',
        tagsFile,
      ]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/at .*\.ts:\d+/);
      expect(existsSync(tagsFile)).toBe(false);
    },
    CLI_TIMEOUT_MS,
  );
});

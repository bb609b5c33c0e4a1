import { PORTS } from './config.js';
import { SERVICE_IMAGES, type ImageTags, type ServiceImage } from './image-tags.js';
import type { PlatformOutputs } from './platform-outputs.js';

/** The port each image's service listens on (the Dockerfile's PORT build argument). */
export const IMAGE_PORTS: Readonly<Record<ServiceImage, number>> = {
  api: PORTS.api,
  broadcast: PORTS.broadcast,
  archival: PORTS.archival,
  latency: PORTS.latencyServer,
};

/** EKS nodes are x86_64 (m6i/c6i): build for them whatever the machine building is. */
export const IMAGE_PLATFORM = 'linux/amd64';

export interface Step {
  readonly argv: readonly string[];
  /** Feed this step's stdout to the step's stdin (`aws ecr get-login-password | docker login`). */
  readonly stdinFrom?: readonly string[];
  /** Run only when this check fails (exits non-zero): skips a push whose tag is already there. */
  readonly unless?: readonly string[];
  readonly why: string;
}

export interface ImagesPlanInput {
  readonly outputs: PlatformOutputs;
  /** Repository root: the build context, holding the one Dockerfile. */
  readonly root: string;
  /** Package version and git sha, e.g. `0.1.0-3f2a9c1d0b7e`. */
  readonly tag: string;
  readonly push: boolean;
}

export interface ImagesPlan {
  readonly steps: readonly Step[];
  /** What `npm run synth` reads afterwards (only when pushed). */
  readonly tags?: ImageTags;
}

/** The immutable tag: the product version and the commit the images are built from. */
export function imageTag(version: string, sha: string, dirtySuffix?: string): string {
  return `${version}-${sha}${dirtySuffix ? `-dirty.${dirtySuffix}` : ''}`;
}

/** Every docker and aws command that builds, and with `push` logs in and pushes, the four images. */
export function planImages(input: ImagesPlanInput): ImagesPlan {
  const { outputs, tag } = input;
  const registry = outputs.images.api.split('/')[0]!;
  const steps: Step[] = [];
  if (input.push) {
    steps.push({
      argv: ['docker', 'login', '--username', 'AWS', '--password-stdin', registry],
      stdinFrom: ['aws', 'ecr', 'get-login-password', '--region', outputs.region],
      why: `log in to ${registry}`,
    });
  }
  const images = Object.fromEntries(SERVICE_IMAGES.map((s) => [s, `${outputs.images[s]}:${tag}`])) as Record<
    ServiceImage,
    string
  >;
  for (const service of SERVICE_IMAGES) {
    const repository = outputs.images[service].slice(registry.length + 1);
    // Tags are immutable in ECR: a tag already pushed (a re-run after a failure) is left alone.
    const exists = input.push
      ? {
          unless: [
            'aws',
            'ecr',
            'describe-images',
            '--region',
            outputs.region,
            '--repository-name',
            repository,
            '--image-ids',
            `imageTag=${tag}`,
          ],
        }
      : {};
    steps.push({
      argv: [
        'docker',
        'build',
        '--platform',
        IMAGE_PLATFORM,
        '--file',
        `${input.root}/Dockerfile`,
        '--build-arg',
        `SERVICE=${service}`,
        '--build-arg',
        `PORT=${IMAGE_PORTS[service]}`,
        '--tag',
        images[service],
        input.root,
      ],
      ...exists,
      why: `build ${service}`,
    });
    if (input.push)
      steps.push({ argv: ['docker', 'push', images[service]], ...exists, why: `push ${service}` });
  }
  return { steps, ...(input.push ? { tags: { stack: outputs.stack, tag, images } } : {}) };
}

/** A step as a shell would show it. */
export function describeStep(step: Step): string {
  const quote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);
  const line = (argv: readonly string[]) => argv.map(quote).join(' ');
  const command = step.stdinFrom ? `${line(step.stdinFrom)} | ${line(step.argv)}` : line(step.argv);
  return step.unless ? `${line(step.unless)} >/dev/null 2>&1 || ${command}` : command;
}

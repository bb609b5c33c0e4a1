import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import type { ChartConfig, Weights } from './config.js';
import { readImageTags, tagFor } from './image-tags.js';
import { PlatformOutputsError, readPlatformOutputs } from './platform-outputs.js';
import { eksProfile, kindProfile } from './profiles.js';
import { readWeights } from './weights.js';
import { synthProfile } from './app.js';

/** charts-ts/, whatever the working directory. */
export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_OUT_DIR = join(PACKAGE_DIR, 'dist');
export const DEFAULT_WEIGHTS_FILE = join(PACKAGE_DIR, 'weights.json');
/** Written by `npm run outputs -w platform -- --stack <s> --out charts-ts/platform-outputs.json` (git-ignored). */
export const REAL_PLATFORM_OUTPUTS = join(PACKAGE_DIR, 'platform-outputs.json');
export const EXAMPLE_PLATFORM_OUTPUTS = join(PACKAGE_DIR, 'platform-outputs.example.json');
/** Written by `npm run images -- --stack <s> --push` (git-ignored). */
export const IMAGE_TAGS_FILE = join(PACKAGE_DIR, 'images.json');
/** Image tag of the committed example manifests; nothing is ever pushed under it. */
export const EXAMPLE_IMAGE_TAG = '0.0.0-example';

/**
 * What synth can write: `kind` (committed), `eks-example` (committed, from the example outputs:
 * a fake account and certificate, never to be applied) and `eks` (from a real stack's outputs
 * and pushed image tag; git-ignored, the one to `kubectl apply`).
 */
export type Target = 'kind' | 'eks' | 'eks-example';

export interface SynthOptions {
  /** @default kind and eks-example, plus eks when real platform outputs are found */
  readonly targets?: readonly Target[];
  /** @default charts-ts/dist */
  readonly outDir?: string;
  /** @default charts-ts/weights.json */
  readonly weightsFile?: string;
  /** @default $GAVEL_PLATFORM_OUTPUTS, else charts-ts/platform-outputs.json if present */
  readonly platformOutputs?: string;
  /** @default the tag in charts-ts/images.json (written by `npm run images`) */
  readonly imageTag?: string;
  /** @default charts-ts/images.json */
  readonly imageTagsFile?: string;
  /** @default false */
  readonly metricsAdapter?: boolean;
  /** @default false */
  readonly keda?: boolean;
  /** PodMonitors for Prometheus Operator (eks). @default false */
  readonly podMonitors?: boolean;
}

export interface ResolvedTarget {
  readonly target: Target;
  readonly config: ChartConfig;
  /** For eks: the outputs file it came from. */
  readonly source?: string;
}

/** The real platform outputs to deploy, if any were given or written. */
export function realPlatformOutputsPath(explicit?: string): string | undefined {
  if (explicit) return resolve(explicit);
  if (process.env.GAVEL_PLATFORM_OUTPUTS) return resolve(process.env.GAVEL_PLATFORM_OUTPUTS);
  return existsSync(REAL_PLATFORM_OUTPUTS) ? REAL_PLATFORM_OUTPUTS : undefined;
}

/** Resolves every target's config first, so bad input fails before anything is written. */
export function resolveTargets(options: SynthOptions, weights?: Weights): ResolvedTarget[] {
  const split = weights ?? readWeights(options.weightsFile ?? DEFAULT_WEIGHTS_FILE);
  const flags = {
    weights: split,
    metricsAdapter: options.metricsAdapter ?? false,
    keda: options.keda ?? false,
    podMonitors: options.podMonitors ?? false,
  };
  const real = realPlatformOutputsPath(options.platformOutputs);
  const targets = options.targets ?? (['kind', 'eks-example', ...(real ? ['eks'] : [])] as Target[]);
  return targets.map((target): ResolvedTarget => {
    if (target === 'kind') return { target, config: kindProfile(flags) };
    if (target === 'eks-example') {
      const outputs = readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS);
      return { target, config: eksProfile(outputs, { ...flags, imageTag: EXAMPLE_IMAGE_TAG }) };
    }
    if (!real) {
      throw new PlatformOutputsError(
        'no platform outputs for the eks profile: write them with `npm run -s outputs -w platform -- --stack <stack> ' +
          '--out charts-ts/platform-outputs.json` (or pass --platform-outputs)',
      );
    }
    const outputs = readPlatformOutputs(real);
    const tagsFile = options.imageTagsFile ?? IMAGE_TAGS_FILE;
    const tags = options.imageTag ? undefined : readImageTags(tagsFile);
    if (!options.imageTag && !tags) {
      throw new PlatformOutputsError(
        `no image tag for stack ${outputs.stack}: push the images with \`npm run images -- --stack ${outputs.stack} --push\` ` +
          `(it writes ${tagsFile}) or pass --image-tag`,
      );
    }
    const imageTag = options.imageTag ?? tagFor(tags!, outputs, tagsFile);
    return { target, source: real, config: eksProfile(outputs, { ...flags, imageTag }) };
  });
}

/** Writes dist/<target>/*.k8s.yaml for each target; returns the files written. */
export function synthTargets(targets: readonly ResolvedTarget[], outDir = DEFAULT_OUT_DIR): string[] {
  return targets.flatMap(({ target, config }) => {
    const dir = join(outDir, target);
    return synthProfile(config, dir).map((file) => join(dir, file));
  });
}

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import type { ChartConfig, ProfileName, Weights } from './config.js';
import { readPlatformOutputs } from './platform-outputs.js';
import { eksProfile, kindProfile } from './profiles.js';
import { readWeights } from './weights.js';
import { synthProfile } from './app.js';

/** charts-ts/, whatever the working directory. */
export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_OUT_DIR = join(PACKAGE_DIR, 'dist');
export const DEFAULT_WEIGHTS_FILE = join(PACKAGE_DIR, 'weights.json');
export const REAL_PLATFORM_OUTPUTS = join(PACKAGE_DIR, 'platform-outputs.json');
export const EXAMPLE_PLATFORM_OUTPUTS = join(PACKAGE_DIR, 'platform-outputs.example.json');
/** Image tag of the committed eks manifests; pass --image-tag for a real release. */
export const DEFAULT_IMAGE_TAG = '0.1.0';

export interface SynthOptions {
  /** @default both profiles */
  readonly profiles?: readonly ProfileName[];
  /** @default charts-ts/dist */
  readonly outDir?: string;
  /** @default charts-ts/weights.json */
  readonly weightsFile?: string;
  /** @default $GAVEL_PLATFORM_OUTPUTS, else charts-ts/platform-outputs.json if present, else the example */
  readonly platformOutputs?: string;
  /** @default DEFAULT_IMAGE_TAG */
  readonly imageTag?: string;
  /** @default false */
  readonly metricsAdapter?: boolean;
  /** @default false */
  readonly keda?: boolean;
}

export function platformOutputsPath(explicit?: string): string {
  if (explicit) return resolve(explicit);
  if (process.env.GAVEL_PLATFORM_OUTPUTS) return resolve(process.env.GAVEL_PLATFORM_OUTPUTS);
  return existsSync(REAL_PLATFORM_OUTPUTS) ? REAL_PLATFORM_OUTPUTS : EXAMPLE_PLATFORM_OUTPUTS;
}

/** Resolves every profile's config first, so bad input fails before anything is written. */
export function resolveConfigs(options: SynthOptions, weights?: Weights): ChartConfig[] {
  const split = weights ?? readWeights(options.weightsFile ?? DEFAULT_WEIGHTS_FILE);
  const flags = {
    weights: split,
    metricsAdapter: options.metricsAdapter ?? false,
    keda: options.keda ?? false,
  };
  return (options.profiles ?? ['kind', 'eks']).map((profile) =>
    profile === 'kind'
      ? kindProfile(flags)
      : eksProfile(readPlatformOutputs(platformOutputsPath(options.platformOutputs)), {
          ...flags,
          imageTag: options.imageTag ?? DEFAULT_IMAGE_TAG,
        }),
  );
}

/** Writes dist/<profile>/*.k8s.yaml for each config; returns the files written. */
export function synthConfigs(configs: readonly ChartConfig[], outDir = DEFAULT_OUT_DIR): string[] {
  return configs.flatMap((config) => {
    const dir = join(outDir, config.profile);
    return synthProfile(config, dir).map((file) => join(dir, file));
  });
}

import { runProgram } from '../../../platform/test/support/program.js';
import { eksProfile } from '../../src/profiles.js';
import { EXAMPLE_IMAGE_TAG, DEFAULT_WEIGHTS_FILE } from '../../src/synth-options.js';
import { readWeights } from '../../src/weights.js';
import { platformOutputsSchema } from '@gavel/shared';
import { synthAll } from '../helpers.js';
import { systemView } from './addons.js';
import type { ClusterModel } from './checks.js';
import { platformView } from './platform-view.js';

/**
 * The platform program of a stack under Pulumi mocks, and the eks manifests synthesized from
 * that run's own platformOutputs: the two layers an operator would `pulumi up` and
 * `kubectl apply`, side by side.
 */
/** What an operator must set before the eks profile synthesizes (its README's first step). */
export const OPERATOR_CONFIG = { allowedOrigins: JSON.stringify(['https://gavel.example.com']) };

/** The stack keys that switch the latency lab on (platform/README.md). */
export const LATENCY_LAB_CONFIG = { latencyLabEnabled: 'true', latencyLabImageTag: EXAMPLE_IMAGE_TAG };

export async function clusterModel(
  stack: string,
  stackConfig: Record<string, string> = {},
): Promise<ClusterModel> {
  const run = await runProgram(stack, { ...OPERATOR_CONFIG, ...stackConfig });
  const platform = platformView(run);
  const outputs = platformOutputsSchema.parse(run.outputs.platformOutputs);
  const config = eksProfile(outputs, {
    weights: readWeights(DEFAULT_WEIGHTS_FILE),
    imageTag: EXAMPLE_IMAGE_TAG,
  });
  return { platform, system: systemView(platform), manifests: synthAll(config) };
}

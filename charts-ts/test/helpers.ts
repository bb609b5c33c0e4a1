import { readFileSync } from 'node:fs';
import { Testing, type Chart } from 'cdk8s';
import { latencyLabSchema } from '@gavel/shared';
import { buildCharts } from '../src/app.js';
import type { ChartConfig } from '../src/config.js';
import { readPlatformOutputs } from '../src/platform-outputs.js';
import { eksProfile, kindProfile, type ProfileOptions } from '../src/profiles.js';
import { EXAMPLE_IMAGE_TAG, DEFAULT_WEIGHTS_FILE, EXAMPLE_PLATFORM_OUTPUTS } from '../src/synth-options.js';
import { readWeights } from '../src/weights.js';

/** A synthesized Kubernetes object, as plain JSON. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    // Typed as present so assertions read plainly; a missing map fails the assertion instead.
    readonly labels: Record<string, string>;
    readonly annotations: Record<string, string>;
  };
  // Tests walk specs of many kinds; `any` keeps each assertion short and local.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly [field: string]: any;
}

export function kindConfig(options: Partial<ProfileOptions> = {}): ChartConfig {
  return kindProfile({ weights: readWeights(DEFAULT_WEIGHTS_FILE), ...options });
}

export function eksConfig(options: Partial<ProfileOptions> = {}): ChartConfig {
  return eksProfile(readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS), {
    weights: readWeights(DEFAULT_WEIGHTS_FILE),
    imageTag: EXAMPLE_IMAGE_TAG,
    ...options,
  });
}

/** The example platform outputs with the latency lab switched on (test/fixtures/latency-lab.json). */
export function eksLabConfig(options: Partial<ProfileOptions> = {}): ChartConfig {
  const lab = latencyLabSchema.parse(
    JSON.parse(readFileSync(new URL('./fixtures/latency-lab.json', import.meta.url), 'utf8')),
  );
  return eksProfile(
    { ...readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS), latencyLab: lab },
    { weights: readWeights(DEFAULT_WEIGHTS_FILE), imageTag: EXAMPLE_IMAGE_TAG, ...options },
  );
}

/** Every chart of a profile, synthesized in memory, by chart id. */
export function synthCharts(config: ChartConfig): Map<string, K8sObject[]> {
  const app = Testing.app();
  const charts = Object.values(buildCharts(app, config)).filter((c): c is Chart => c !== undefined);
  return new Map(charts.map((chart) => [chart.node.id, Testing.synth(chart) as K8sObject[]]));
}

export function synthAll(config: ChartConfig): K8sObject[] {
  return [...synthCharts(config).values()].flat();
}

export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name}`);
  return found;
}

/** Pod template spec of a workload. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function podSpec(workload: K8sObject): any {
  return workload.spec.template.spec;
}

export const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet']);

export const PROFILES = [
  ['kind', () => kindConfig()],
  ['eks', () => eksConfig()],
] as const;

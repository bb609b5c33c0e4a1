import { ApiObject } from 'cdk8s';
import type { LatencyLab } from '@gavel/shared';
import { Construct } from 'constructs';
import { APP_UID, type LatencyLabConfig, type NodePool, type Sizing } from '../config.js';
import { appLabels, selectorLabels } from './labels.js';

/** Where the compare Job finds the lab's paths (the ConfigMap below). */
export const TARGETS_MOUNT = '/etc/gavel/latency-lab';
export const TARGETS_KEY = 'targets.json';
export const COMPARE_NAME = 'latency-compare';

export interface LatencyCompareJobProps {
  readonly config: LatencyLabConfig;
  readonly image: string;
  readonly imagePullPolicy: 'IfNotPresent' | 'Always';
  readonly sizing: Sizing;
  /** Never on the latency pool (it would steal the measured cores); the clients' pool preferred. */
  readonly latencyPool: NodePool;
  readonly clientPool?: NodePool;
}

const matchExpressions = (pool: NodePool, operator: 'In' | 'NotIn') =>
  Object.entries(pool.labels).map(([key, value]) => ({ key, operator, values: [value] }));

/**
 * The compare run as a suspended CronJob: `kubectl create job --from=cronjob/latency-compare …`
 * starts one whenever a measurement is wanted. Its pod measures the in-cluster paths itself and
 * has the client VPC's agent measure the rest, then logs the report's JSON (histograms included)
 * for `gavel-latency report` to redraw.
 */
export class LatencyCompareJob extends Construct {
  readonly podLabels: Record<string, string>;

  constructor(scope: Construct, id: string, props: LatencyCompareJobProps) {
    super(scope, id);
    const { compare, lab } = props.config;
    const labels = appLabels(COMPARE_NAME);
    this.podLabels = selectorLabels(COMPARE_NAME);
    const configMapName = 'latency-lab-targets';
    new ApiObject(this, 'Targets', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: configMapName, labels },
      data: { [TARGETS_KEY]: `${JSON.stringify(lab satisfies LatencyLab, null, 2)}\n` },
    });

    const perPathS = compare.rounds * (compare.warmupS + compare.durationS + 15);
    const s = props.sizing;
    const container = {
      name: COMPARE_NAME,
      image: props.image,
      imagePullPolicy: props.imagePullPolicy,
      command: [
        'node',
        'dist/cli.js',
        'compare',
        '--targets-file',
        `${TARGETS_MOUNT}/${TARGETS_KEY}`,
        '--connections',
        String(compare.connections),
        '--rate',
        String(compare.rate),
        '--payload',
        String(compare.payloadBytes),
        '--warmup',
        String(compare.warmupS),
        '--duration',
        String(compare.durationS),
        '--rounds',
        String(compare.rounds),
        // The summary, histograms included, is the log's last line: `gavel-latency report` reads it.
        '--json',
        '--no-progress',
      ],
      resources: {
        requests: { cpu: `${s.cpuRequestMillis}m`, memory: `${s.memoryRequestMi}Mi` },
        limits: { cpu: `${s.cpuLimitMillis}m`, memory: `${s.memoryLimitMi}Mi` },
      },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: APP_UID,
        runAsGroup: APP_UID,
        privileged: false,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      },
      volumeMounts: [
        { name: 'targets', mountPath: TARGETS_MOUNT, readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
      ],
    };
    const nodeAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: matchExpressions(props.latencyPool, 'NotIn') }],
      },
      ...(props.clientPool
        ? {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 100, preference: { matchExpressions: matchExpressions(props.clientPool, 'In') } },
            ],
          }
        : {}),
    };
    new ApiObject(this, 'CronJob', {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: COMPARE_NAME, labels },
      spec: {
        // Never on a timer: a measurement is started by hand (see the latency README).
        suspend: true,
        schedule: '0 0 1 1 *',
        concurrencyPolicy: 'Forbid',
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: 0,
            // Seven paths in turn, each with its drain and connect time, and room for a slow start.
            activeDeadlineSeconds: Math.ceil(lab.targets.length * perPathS + 300),
            // Kept a day for its log, the report's only copy.
            ttlSecondsAfterFinished: 86_400,
            template: {
              metadata: { labels: { ...labels, ...this.podLabels } },
              spec: {
                restartPolicy: 'Never',
                automountServiceAccountToken: false,
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: APP_UID,
                  runAsGroup: APP_UID,
                  fsGroup: APP_UID,
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                affinity: { nodeAffinity },
                ...(props.clientPool
                  ? {
                      tolerations: props.clientPool.taints.map((t) => ({
                        key: t.key,
                        operator: 'Equal',
                        value: t.value,
                        effect: t.effect,
                      })),
                    }
                  : {}),
                containers: [container],
                volumes: [
                  { name: 'targets', configMap: { name: configMapName } },
                  { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
                ],
              },
            },
          },
        },
      },
    });
  }
}

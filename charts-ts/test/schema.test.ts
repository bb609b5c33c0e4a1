import { describe, expect, it } from 'vitest';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { PROFILES, synthAll, eksConfig, eksLabConfig, kindConfig, type K8sObject } from './helpers.js';

/**
 * Schemas from kubernetes-models (generated from the Kubernetes OpenAPI spec, current APIs,
 * which the EKS 1.33 clusters of the platform serve). Each apiVersion/kind maps to its model.
 */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/CronJob': CronJob,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  // The Prometheus Operator's CRD schema, as kubernetes-models generates it.
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** CRDs with no upstream schema here; listed so an unknown kind never slips through unvalidated. */
const ALLOWED_CUSTOM_RESOURCES = new Set([
  'keda.sh/v1alpha1/ScaledObject',
  'elbv2.k8s.aws/v1beta1/TargetGroupBinding',
]);

function validate(object: K8sObject): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const Model = MODELS[key];
  if (!Model) {
    if (ALLOWED_CUSTOM_RESOURCES.has(key)) return;
    throw new Error(`${key} ${object.metadata.name}: no schema and not an allowed custom resource`);
  }
  new Model(object as never).validate();
}

describe('every synthesized object matches the Kubernetes schema', () => {
  const variants = [
    ...PROFILES,
    ['kind with KEDA and a metrics adapter', () => kindConfig({ keda: true, metricsAdapter: true })],
    ['eks with KEDA and a metrics adapter', () => eksConfig({ keda: true, metricsAdapter: true })],
    ['eks with the latency lab', () => eksLabConfig()],
    ['eks with PodMonitors', () => eksConfig({ podMonitors: true })],
  ] as const;
  for (const [name, config] of variants) {
    it(name, () => {
      const objects = synthAll(config());
      expect(objects.length).toBeGreaterThan(20);
      for (const object of objects) {
        expect(() => validate(object), `${object.kind}/${object.metadata.name}`).not.toThrow();
      }
    });
  }

  it('catches a broken object (the check can fail)', () => {
    const deployment = synthAll(kindConfig()).find((o) => o.kind === 'Deployment')!;
    const broken = structuredClone(deployment) as K8sObject;
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => validate(broken)).toThrow();
    expect(() =>
      validate({
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: { name: 'w', labels: {}, annotations: {} },
      }),
    ).toThrow(/not an allowed custom resource/);
  });
});

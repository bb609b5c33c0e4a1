import { Chart } from 'cdk8s';
import { Namespace } from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import type { ChartConfig } from '../config.js';

/** Kubernetes minor version the platform deploys (EKS 1.33); Pod Security is pinned to it. */
export const KUBERNETES_VERSION = 'v1.33';

export class NamespaceChart extends Chart {
  readonly namespaceObject: Namespace;

  constructor(scope: Construct, id: string, config: ChartConfig) {
    super(scope, id);
    this.namespaceObject = new Namespace(this, 'Namespace', {
      metadata: {
        name: config.namespace,
        labels: {
          'app.kubernetes.io/part-of': 'gavel',
          // Admission refuses any pod that is not "restricted"; warn/audit make drift visible early.
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': KUBERNETES_VERSION,
          'pod-security.kubernetes.io/audit': 'restricted',
          'pod-security.kubernetes.io/audit-version': KUBERNETES_VERSION,
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/warn-version': KUBERNETES_VERSION,
        },
      },
    });
  }
}

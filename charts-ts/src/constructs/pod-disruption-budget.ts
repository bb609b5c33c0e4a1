import { ApiObject } from 'cdk8s';
import type { Workload } from 'cdk8s-plus-27';
import { Construct } from 'constructs';

export interface PodDisruptionBudgetProps {
  readonly name: string;
  /** Pods of this workload are protected; its selector is reused, not retyped. */
  readonly workload: Workload;
  /**
   * Voluntary evictions allowed at once. 1 keeps a node drain moving while never taking two
   * replicas (or two of three NATS quorum members) down together.
   * @default 1
   */
  readonly maxUnavailable?: number;
}

/** policy/v1 PodDisruptionBudget (cdk8s-plus-27 has no construct for it). */
export class PodDisruptionBudget extends Construct {
  readonly apiObject: ApiObject;

  constructor(scope: Construct, id: string, props: PodDisruptionBudgetProps) {
    super(scope, id);
    this.apiObject = new ApiObject(this, 'Resource', {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: props.name, labels: props.workload.matchLabels },
      spec: {
        maxUnavailable: props.maxUnavailable ?? 1,
        selector: { matchLabels: props.workload.matchLabels },
      },
    });
  }
}

import { ApiObject } from 'cdk8s';
import {
  LATENCY_SERVER_PODS_SERVICE,
  LATENCY_SERVER_PORT,
  type LatencyLab,
  type LatencyTarget,
} from '@gavel/shared';
import { Service, type Deployment } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { appLabels } from './labels.js';

export interface LatencyLabBindingsProps {
  readonly lab: LatencyLab;
  /** The latency server and its ClusterIP Service, which the target groups take pods from. */
  readonly server: Deployment;
  readonly service: Service;
}

/** TargetGroupBinding names, one per platform target group. */
export const TARGET_GROUP_BINDINGS = {
  nlb: 'latency-server-lab-nlb',
  alb: 'latency-server-lab-alb',
} as const;

/**
 * What the latency lab needs of the cluster: the platform's NLB and ALB target groups bound to the
 * latency server (the AWS Load Balancer Controller registers and drains the pods, as it would for
 * an NLB of its own), and the headless Service whose name answers with pod IPs (the baseline).
 */
export class LatencyLabBindings extends Construct {
  readonly podsService: Service;

  constructor(scope: Construct, id: string, props: LatencyLabBindingsProps) {
    super(scope, id);
    const labels = appLabels('latency-server');
    for (const [kind, name] of Object.entries(TARGET_GROUP_BINDINGS) as [
      keyof typeof TARGET_GROUP_BINDINGS,
      string,
    ][]) {
      new ApiObject(this, `TargetGroupBinding-${kind}`, {
        apiVersion: 'elbv2.k8s.aws/v1beta1',
        kind: 'TargetGroupBinding',
        metadata: { name, labels },
        spec: {
          serviceRef: { name: props.service.name, port: LATENCY_SERVER_PORT },
          targetGroupARN: props.lab.targetGroupArns[kind],
          targetType: 'ip',
        },
      });
    }
    // No cluster IP: the name resolves to the ready pods' own addresses.
    this.podsService = new Service(this, 'Pods', {
      metadata: { name: LATENCY_SERVER_PODS_SERVICE, labels },
      clusterIP: 'None',
      selector: props.server,
      ports: [{ name: 'ws', port: LATENCY_SERVER_PORT, targetPort: LATENCY_SERVER_PORT }],
    });
  }
}

/** The in-cluster paths of a lab, which the compare Job measures itself. */
export const inClusterTargets = (lab: LatencyLab): LatencyTarget[] =>
  lab.targets.filter((t) => t.from === 'cluster');

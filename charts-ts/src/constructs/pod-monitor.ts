import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { appLabels } from './labels.js';

export interface PodMonitorProps {
  /** Name of the PodMonitor and the value of `app.kubernetes.io/name` it selects. */
  readonly app: string;
  /** The container port (by name) serving /metrics. @default 'http' */
  readonly port?: string;
  /** @default '15s' */
  readonly interval?: string;
}

/**
 * A Prometheus Operator PodMonitor (monitoring.coreos.com/v1, a CRD: plain ApiObject): the
 * operator's Prometheus scrapes /metrics of every pod of one workload, on each pod rather than
 * through a Service, so that each replica (and broadcast colour) is its own target.
 */
export class PodMonitor extends Construct {
  constructor(scope: Construct, id: string, props: PodMonitorProps) {
    super(scope, id);
    new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: { name: props.app, labels: appLabels(props.app) },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': props.app } },
        podMetricsEndpoints: [
          {
            port: props.port ?? 'http',
            path: '/metrics',
            interval: props.interval ?? '15s',
            // Pod labels a dashboard groups by, as Prometheus labels of every series.
            relabelings: [
              { sourceLabels: ['__meta_kubernetes_pod_label_gavel_io_color'], targetLabel: 'color' },
              { sourceLabels: ['__meta_kubernetes_pod_name'], targetLabel: 'pod' },
            ],
          },
        ],
      },
    });
  }
}

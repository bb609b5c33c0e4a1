import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { ChartConfig } from '../config.js';
import { PodMonitor } from '../constructs/pod-monitor.js';
import { appLabels } from '../constructs/labels.js';
import { SLO_RULES } from '../slo-rules.js';

/**
 * For Prometheus Operator users (features.podMonitors): a PodMonitor per Gavel workload. The
 * operator's Prometheus must run in `metricsNamespace`, the one namespace the NetworkPolicies
 * admit scrapes from, and select PodMonitors (and the SLO PrometheusRule) labelled
 * `app.kubernetes.io/part-of: gavel`.
 * deploy/grafana/gavel-overview.json is the dashboard for what it collects.
 */
export class MonitoringChart extends Chart {
  constructor(scope: Construct, id: string, config: ChartConfig) {
    super(scope, id, { namespace: config.namespace });
    for (const app of ['api', 'broadcast', 'archival', 'latency-server', 'latency-client']) {
      new PodMonitor(this, app, { app });
    }
    new ApiObject(this, 'SloRules', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'gavel-slo', labels: appLabels('gavel-slo') },
      spec: {
        groups: [
          {
            name: 'gavel-slo',
            rules: SLO_RULES.map((r) => ({
              alert: r.alert,
              expr: r.expr,
              for: r.for,
              labels: { severity: 'page' },
              annotations: { summary: r.summary, runbook: `docs/runbooks.md#${r.runbook}` },
            })),
          },
        ],
      },
    });
  }
}

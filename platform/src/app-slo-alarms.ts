import type * as pulumi from '@pulumi/pulumi';

/**
 * Gavel's SLOs as CloudWatch sees them. The services' Prometheus metrics reach CloudWatch through
 * the CloudWatch agent's Prometheus scraping (Container Insights), which publishes the series
 * named in `CLOUDWATCH_PROMETHEUS_METRICS` to the `ContainerInsights/Prometheus` namespace with
 * the dimensions given there (its `metric_declaration`; docs/observability.md shows the agent
 * configuration). A histogram's quantile cannot be computed in CloudWatch, so a p99 objective
 * is alarmed as what it means: more than 1% of requests slower than the threshold, the
 * `_count` minus the threshold bucket over the `_count`.
 */
export const PROMETHEUS_NAMESPACE = 'ContainerInsights/Prometheus';

/** What the agent imports: metric name → the dimensions it publishes it with. */
export const CLOUDWATCH_PROMETHEUS_METRICS: Readonly<Record<string, readonly string[]>> = {
  gavel_bid_duration_seconds_count: ['ClusterName', 'Namespace', 'service'],
  gavel_bid_duration_seconds_bucket: ['ClusterName', 'Namespace', 'service', 'le'],
  gavel_bids_total: ['ClusterName', 'Namespace', 'service', 'outcome'],
  gavel_outbox_entries: ['ClusterName', 'Namespace', 'service'],
  gavel_archival_lag_seconds_count: ['ClusterName', 'Namespace', 'service'],
  gavel_archival_lag_seconds_bucket: ['ClusterName', 'Namespace', 'service', 'le'],
  gavel_archival_consumer_pending_messages: ['ClusterName', 'Namespace', 'service'],
  gavel_broadcast_connections: ['ClusterName', 'Namespace', 'service', 'color'],
  gavel_broadcast_deliveries_total: ['ClusterName', 'Namespace', 'service', 'color'],
  gavel_broadcast_delivery_lag_seconds_count: ['ClusterName', 'Namespace', 'service'],
  gavel_broadcast_delivery_lag_seconds_bucket: ['ClusterName', 'Namespace', 'service', 'le'],
  gavel_broadcast_drops_total: ['ClusterName', 'Namespace', 'service', 'reason'],
  gavel_http_request_duration_seconds_count: ['ClusterName', 'Namespace', 'service', 'status_code'],
};

export interface SloAlarmSpec {
  readonly name: string;
  readonly description: string;
  /** docs/runbooks.md#<anchor> */
  readonly runbook: string;
  readonly threshold: number;
  /** One-minute periods that must breach. */
  readonly periods: number;
  readonly metricQueries: unknown[];
}

const metric = (
  id: string,
  name: string,
  dims: Record<string, pulumi.Input<string>>,
  stat: 'Sum' | 'Maximum',
) => ({
  id,
  returnData: false,
  metric: { namespace: PROMETHEUS_NAMESPACE, metricName: name, dimensions: dims, stat, period: 60 },
});

/** Share (percent) of a histogram's observations above the bucket `le`. */
function slowShare(histogram: string, le: string, dims: Record<string, pulumi.Input<string>>) {
  return [
    metric('all', `${histogram}_count`, dims, 'Sum'),
    metric('fast', `${histogram}_bucket`, { ...dims, le }, 'Sum'),
    { id: 'slow', expression: 'IF(all > 0, 100 * (all - fast) / all, 0)', returnData: true },
  ];
}

/** The SLO alarms: bid p99, archival lag, outbox depth. */
export function sloAlarmSpecs(clusterName: pulumi.Input<string>, namespace: string): SloAlarmSpec[] {
  const of = (service: string) => ({ ClusterName: clusterName, Namespace: namespace, service });
  return [
    {
      name: 'slo-bid-p99',
      description:
        'Bid p99 above 50 ms: more than 1% of bids took longer in Redis (gavel_bid_duration_seconds)',
      runbook: 'bid-latency',
      threshold: 1,
      periods: 5,
      metricQueries: slowShare('gavel_bid_duration_seconds', '0.05', of('api')),
    },
    {
      name: 'slo-archival-lag',
      description: 'Archival lag p99 above 30 s: more than 1% of events took longer to reach PostgreSQL',
      runbook: 'archival-lag',
      threshold: 1,
      periods: 5,
      metricQueries: slowShare('gavel_archival_lag_seconds', '30', of('archival')),
    },
    {
      name: 'slo-outbox-depth',
      description: 'Outbox depth above 1000: accepted bids are not reaching JetStream',
      runbook: 'outbox-depth',
      threshold: 1000,
      periods: 3,
      metricQueries: [{ ...metric('depth', 'gavel_outbox_entries', of('api'), 'Maximum'), returnData: true }],
    },
  ];
}

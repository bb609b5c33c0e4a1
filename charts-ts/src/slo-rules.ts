/**
 * Gavel's SLO alerts in PromQL, for a Prometheus Operator's PrometheusRule. The same objectives
 * and thresholds as the platform's CloudWatch alarms; docs/runbooks.md has what to do.
 */
export interface SloRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly summary: string;
  /** Anchor in docs/runbooks.md. */
  readonly runbook: string;
}

export const SLO_RULES: readonly SloRule[] = [
  {
    alert: 'GavelBidLatencyP99High',
    expr: 'histogram_quantile(0.99, sum by (le) (rate(gavel_bid_duration_seconds_bucket[5m]))) > 0.05',
    for: '5m',
    summary: 'Bid p99 above 50 ms',
    runbook: 'bid-latency',
  },
  {
    alert: 'GavelArchivalLagP99High',
    expr: 'histogram_quantile(0.99, sum by (le) (rate(gavel_archival_lag_seconds_bucket[5m]))) > 30',
    for: '5m',
    summary: 'Archival lag p99 above 30 s',
    runbook: 'archival-lag',
  },
  {
    alert: 'GavelOutboxDepthHigh',
    expr: 'max(gavel_outbox_entries) > 1000',
    for: '3m',
    summary: 'Outbox depth above 1000: accepted bids are not reaching JetStream',
    runbook: 'outbox-depth',
  },
];

import { Counter, Gauge, Histogram as PromHistogram, type Registry } from 'prom-client';
import type { PercentileSummary } from './latency-histogram.js';

/** Seconds; dense below 10 ms, where in-region WebSocket latency lives. */
const BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5,
];

/**
 * What the client exports when it runs as a Deployment: every sample into a Prometheus
 * histogram (aggregatable over pods), and the exact HdrHistogram percentiles of the last run.
 */
export function createClientMetrics(registry: Registry) {
  const latency = new PromHistogram({
    name: 'gavel_latency_client_latency_seconds',
    help: 'Echo latency measured from the intended send time',
    labelNames: ['target'] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  // A gauge per percentile, labelled `percentile` (0-100): `quantile` is reserved for summaries,
  // and this is not one (it is the last run's exact HdrHistogram value, not a moving estimate).
  const percentile = new Gauge({
    name: 'gavel_latency_client_last_run_percentile_seconds',
    help: 'Latency percentiles of the last completed run (HdrHistogram, from the intended send time)',
    labelNames: ['target', 'percentile'] as const,
    registers: [registry],
  });
  const messages = new Counter({
    name: 'gavel_latency_client_messages_total',
    help: 'Measured messages by outcome',
    labelNames: ['target', 'outcome'] as const,
    registers: [registry],
  });
  const runs = new Counter({
    name: 'gavel_latency_client_runs_total',
    help: 'Completed measurement runs',
    labelNames: ['target'] as const,
    registers: [registry],
  });
  return {
    sampleRecorder(target: string) {
      const child = latency.labels(target);
      return (us: number) => child.observe(us / 1e6);
    },
    recordRun(target: string, summary: PercentileSummary, received: number, lost: number) {
      const percentiles: Array<[string, number]> = [
        ['50', summary.p50],
        ['90', summary.p90],
        ['99', summary.p99],
        ['99.9', summary.p99_9],
        ['99.99', summary.p99_99],
        ['100', summary.max],
      ];
      for (const [p, ms] of percentiles) percentile.labels(target, p).set(ms / 1000);
      messages.labels(target, 'received').inc(received);
      messages.labels(target, 'lost').inc(lost);
      runs.labels(target).inc();
    },
  };
}

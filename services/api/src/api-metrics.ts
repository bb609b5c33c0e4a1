import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The api's own Prometheus metrics, registered on the instance's registry. */
export function createApiMetrics(registry: Registry, outboxDepth: () => Promise<number>) {
  return {
    bids: new Counter({
      name: 'gavel_bids_total',
      help: 'Bid attempts by outcome and strategy',
      labelNames: ['outcome', 'strategy'] as const,
      registers: [registry],
    }),
    bidDuration: new Histogram({
      name: 'gavel_bid_duration_seconds',
      help: 'Time to apply a bid in Redis (after validation; replay and rate limit included)',
      labelNames: ['strategy'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    optimisticRetries: new Counter({
      name: 'gavel_optimistic_retries_total',
      help: 'EXEC attempts of the optimistic strategy aborted by a concurrent write',
      registers: [registry],
    }),
    outboxDepth: new Gauge({
      name: 'gavel_outbox_entries',
      help: 'Outbox depth: events in the Redis outbox not yet acknowledged by JetStream',
      registers: [registry],
      async collect() {
        try {
          this.set(await outboxDepth());
        } catch {
          // Redis down: leave the last value; /readyz reports the outage.
        }
      },
    }),
    relayPublished: new Counter({
      name: 'gavel_outbox_published_total',
      help: 'Outbox entries handled by the relay, by result (ok, duplicate, failed, invalid)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    itemsClosed: new Counter({
      name: 'gavel_items_closed_total',
      help: 'Items closed by this replica',
      registers: [registry],
    }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;

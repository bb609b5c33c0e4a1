import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The worker's Prometheus metrics, registered on the instance's own registry. */
export function createArchivalMetrics(registry: Registry, readConsumer: () => Promise<ConsumerState>) {
  const lastConsumer: ConsumerState = { pending: 0, ackPending: 0 };
  const refresh = async () => {
    try {
      Object.assign(lastConsumer, await readConsumer());
    } catch {
      // NATS unreachable: keep the last known values; /readyz reports the outage.
    }
  };
  return {
    consumerPending: new Gauge({
      name: 'gavel_archival_consumer_pending_messages',
      help: 'Consumer lag: events in the stream not yet delivered to the archival consumer',
      registers: [registry],
      async collect() {
        await refresh();
        this.set(lastConsumer.pending);
      },
    }),
    consumerAckPending: new Gauge({
      name: 'gavel_archival_consumer_ack_pending_messages',
      help: 'Events delivered to the archival consumer and not yet acknowledged',
      registers: [registry],
      collect() {
        this.set(lastConsumer.ackPending);
      },
    }),
    batchSize: new Histogram({
      name: 'gavel_archival_batch_events',
      help: 'Events per batch written to PostgreSQL',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'gavel_archival_batch_write_seconds',
      help: 'Time to write and commit one batch',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    lag: new Histogram({
      name: 'gavel_archival_lag_seconds',
      help: "Time from an event's creation (its `at`) to the commit of the batch that archived it",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    rowsWritten: new Counter({
      name: 'gavel_archival_rows_written_total',
      help: 'Rows inserted or updated, by table (redelivered events write none)',
      labelNames: ['table'],
      registers: [registry],
    }),
    acked: new Counter({
      name: 'gavel_archival_messages_acked_total',
      help: 'Events acknowledged after their batch committed',
      registers: [registry],
    }),
    nacked: new Counter({
      name: 'gavel_archival_messages_nacked_total',
      help: 'Events handed back for redelivery, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'gavel_archival_dead_lettered_total',
      help: 'Events moved to the dead-letter stream, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    retentionDeleted: new Counter({
      name: 'gavel_archival_retention_deleted_rows_total',
      help: 'Expired messages deleted by retention, by table',
      labelNames: ['table'],
      registers: [registry],
    }),
  };
}

export interface ConsumerState {
  pending: number;
  ackPending: number;
}

export type ArchivalMetrics = ReturnType<typeof createArchivalMetrics>;

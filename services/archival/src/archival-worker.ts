import pg from 'pg';
import {
  AckPolicy,
  DeliverPolicy,
  headers,
  nanos,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import type { Registry } from 'prom-client';
import {
  connectNats,
  contextOfHeaders,
  decodeEvent,
  ensureStreams,
  inBatchSpan,
  startMessageSpan,
  subjects,
  topologyOf,
  type GavelEvent,
  type Logger,
  type ReadinessCheck,
  type Topology,
  type TraceContext,
} from '@gavel/shared';
import { migrate } from './migrate.js';
import type { ArchivalConfig } from './config.js';
import { writeEvents, type RowCounts } from './archive-repository.js';
import { deleteExpiredMessages } from './retention.js';
import { BatchReader, sleep } from './batch-reader.js';
import { createArchivalMetrics, type ArchivalMetrics } from './archival-metrics.js';

/** Dead-letter subject tokens (`<prefix>_dlq.<reason>`). */
export const DEAD_LETTER_REASONS = { badSchema: 'bad_schema', insertFailed: 'insert_failed' } as const;

/** Headers of a dead letter; its body is the original message's data, unchanged. */
export const DEAD_LETTER_HEADERS = {
  reason: 'Gavel-Dead-Letter-Reason',
  subject: 'Gavel-Original-Subject',
  stream: 'Gavel-Original-Stream',
  streamSeq: 'Gavel-Original-Stream-Seq',
  deliveries: 'Gavel-Deliveries',
} as const;

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5000;
const RETENTION_CHUNK = 1000;

export interface ArchivalWorkerOptions {
  readonly config: ArchivalConfig;
  readonly logger: Logger;
  readonly registry: Registry;
}

interface Decoded {
  readonly msg: JsMsg;
  readonly event: GavelEvent;
}

/**
 * Moves events from the JetStream stream into PostgreSQL. `connect` checks the config and
 * connects; `run(signal)` applies migrations, then archives batch after batch until the signal
 * aborts, then drains. An event is acknowledged only after the transaction holding it committed.
 */
export class ArchivalWorker {
  readonly topology: Topology;
  readonly metrics: ArchivalMetrics;
  /** For /readyz. */
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  private readonly pool: pg.Pool;
  private migrated = false;
  private backoffMs = 0;

  private constructor(
    private readonly options: ArchivalWorkerOptions,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {
    const { config } = options;
    this.topology = topologyOf(config);
    this.pool = new pg.Pool({
      connectionString: config.DATABASE_URL,
      max: config.WRITE_CONCURRENCY + 2,
      connectionTimeoutMillis: 3000,
      application_name: 'gavel-archival',
    });
    // An idle client losing its server must not crash the process; the next query reconnects.
    this.pool.on('error', (err) => options.logger.warn({ err: err.message }, 'postgres client error'));
    // A checked-out client has no pool listener: its server going away mid-batch emits 'error' on
    // the client itself, which unheard would crash the worker. The batch's query fails with the
    // same error, so the batch is handed back and written again later.
    this.pool.on('connect', (client) =>
      client.on('error', (err) => options.logger.warn({ err: err.message }, 'postgres connection lost')),
    );
    this.metrics = createArchivalMetrics(options.registry, async () => {
      const info = await this.jsm.consumers.info(config.NATS_STREAM, config.CONSUMER_NAME);
      return { pending: info.num_pending, ackPending: info.num_ack_pending };
    });
    this.checks = {
      postgres: () => this.pool.query('SELECT 1'),
      schema: async () => {
        if (!this.migrated) throw new Error('migrations not applied yet');
      },
      nats: async () => {
        if (this.nc.isClosed()) throw new Error('connection closed');
        await this.nc.flush();
      },
      consumer: () => this.jsm.consumers.info(config.NATS_STREAM, config.CONSUMER_NAME),
    };
  }

  /** Connects to NATS and makes sure the streams and the durable consumer exist. */
  static async connect(options: ArchivalWorkerOptions): Promise<ArchivalWorker> {
    const { config } = options;
    const nc = await connectNats(config.NATS_URL, `archival-${config.CONSUMER_NAME}`);
    try {
      const jsm = await nc.jetstreamManager();
      const topology = topologyOf(config);
      await ensureStreams(jsm, topology);
      await ensureConsumer(jsm, config, topology);
      return new ArchivalWorker(options, nc, nc.jetstream(), jsm);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /** Archives until `signal` aborts, then returns unprocessed messages and stops. */
  async run(signal: AbortSignal): Promise<void> {
    const { config, logger } = this.options;
    await this.applyMigrations(signal);
    if (signal.aborted) return;
    const retention = this.startRetention(signal);
    const consumer = await this.js.consumers.get(config.NATS_STREAM, config.CONSUMER_NAME);
    const reader = await BatchReader.open(consumer, {
      batchSize: config.BATCH_SIZE,
      prefetchBatches: config.WRITE_CONCURRENCY + 1,
      maxWaitMs: config.BATCH_MAX_WAIT_MS,
    });
    logger.info({ stream: config.NATS_STREAM, consumer: config.CONSUMER_NAME }, 'archiving');
    // Batches are independent (idempotent inserts, per-item locks), so several may be in flight:
    // one waits on PostgreSQL while the next is fetched and decoded.
    const inFlight = new Set<Promise<void>>();
    try {
      while (!signal.aborted) {
        const batch = await reader.next(signal);
        if (batch.length > 0) {
          const writing: Promise<void> = this.processBatch(batch)
            .catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'batch failed'))
            .finally(() => inFlight.delete(writing));
          inFlight.add(writing);
          if (inFlight.size >= config.WRITE_CONCURRENCY) await Promise.race(inFlight);
        }
        // After a failed write, give PostgreSQL room to come back before the next attempt.
        if (this.backoffMs > 0) {
          await Promise.all(inFlight);
          await sleep(this.backoffMs, signal);
        }
      }
    } finally {
      await Promise.all(inFlight);
      const returned = await reader.close();
      await retention;
      logger.info({ returned }, 'archival stopped');
    }
  }

  /** Closes the connections; call after run() returned. */
  async close(): Promise<void> {
    await this.nc.drain().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  /** Migrations wait for PostgreSQL rather than crash the process: /readyz says why meanwhile. */
  private async applyMigrations(signal: AbortSignal): Promise<void> {
    const { config, logger } = this.options;
    let delay = 500;
    while (!signal.aborted) {
      try {
        await migrate(config.DATABASE_URL, (msg) => logger.debug({ migrate: msg }));
        this.migrated = true;
        return;
      } catch (err) {
        logger.warn({ err: errorMessage(err), retryInMs: delay }, 'migrations failed, retrying');
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  private async startRetention(signal: AbortSignal): Promise<void> {
    const { config, logger } = this.options;
    while (!signal.aborted) {
      try {
        const deleted = await deleteExpiredMessages(this.pool, config.CHAT_RETENTION_HOURS, {
          chunkSize: RETENTION_CHUNK,
          signal,
        });
        for (const [table, n] of Object.entries(deleted)) {
          if (n > 0) this.metrics.retentionDeleted.inc({ table }, n);
        }
        if (deleted.chat_messages + deleted.direct_messages > 0) logger.info({ deleted }, 'retention');
      } catch (err) {
        logger.warn({ err: errorMessage(err) }, 'retention failed, will retry');
      }
      await sleep(config.RETENTION_INTERVAL_S * 1000, signal);
    }
  }

  private async processBatch(batch: readonly JsMsg[]): Promise<void> {
    this.metrics.batchSize.observe(batch.length);
    const decoded: Decoded[] = [];
    for (const msg of batch) {
      const result = decodeEvent(msg.data);
      if (result.ok) decoded.push({ msg, event: result.event });
      else await this.deadLetter(msg, DEAD_LETTER_REASONS.badSchema, result.reason);
    }
    if (decoded.length === 0) return;
    // Each event's own trace gets a span that lasts until its batch is settled; the batch's
    // span (and the database spans under it) links to every one of them.
    const contexts = decoded.map((d) => contextOfHeaders(d.msg.headers));
    const spans = decoded.map((d, i) =>
      startMessageSpan(`archive ${d.event.type}`, d.msg.subject, contexts[i], {
        'gavel.event.id': d.event.id,
      }),
    );
    try {
      await this.archive(decoded, contexts);
    } finally {
      for (const span of spans) span.end();
    }
  }

  private async archive(
    decoded: readonly Decoded[],
    contexts: readonly (TraceContext | undefined)[],
  ): Promise<void> {
    const stopTimer = this.metrics.batchSeconds.startTimer();
    try {
      const events = decoded.map((d) => d.event);
      const counts = await inBatchSpan('archive batch', contexts, {}, () => this.write(events));
      this.recordWrite(counts, decoded);
      stopTimer();
      return;
    } catch (err) {
      if (!isDataError(err)) return this.retryLater(decoded, err);
      this.options.logger.warn({ err: errorMessage(err) }, 'batch refused, retrying event by event');
    }

    // One event poisons the whole transaction: find it by writing the events one at a time.
    for (const [i, item] of decoded.entries()) {
      try {
        this.recordWrite(await this.write([item.event]), [item]);
      } catch (err) {
        if (!isDataError(err)) return this.retryLater(decoded.slice(i), err);
        if (item.msg.info.deliveryCount >= this.options.config.MAX_DELIVERIES) {
          await this.deadLetter(item.msg, DEAD_LETTER_REASONS.insertFailed, errorMessage(err));
        } else {
          this.options.logger.warn(
            { eventId: item.event.id, deliveries: item.msg.info.deliveryCount, err: errorMessage(err) },
            'event refused by PostgreSQL, will retry',
          );
          item.msg.nak(this.nakDelay(item.msg));
          this.metrics.nacked.inc({ reason: 'insert_failed' });
        }
      }
    }
  }

  private async write(events: readonly GavelEvent[]): Promise<RowCounts> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      return await writeEvents(client, events);
    } catch (err) {
      broken = !isDataError(err);
      throw err;
    } finally {
      // A client that failed for a connection reason is discarded, not reused.
      client.release(broken);
    }
  }

  private recordWrite(counts: RowCounts, written: readonly Decoded[]): void {
    for (const [table, n] of Object.entries(counts)) {
      if (n > 0) this.metrics.rowsWritten.inc({ table }, n);
    }
    const now = Date.now();
    for (const { msg, event } of written) {
      msg.ack();
      const lagMs = now - Date.parse(event.at);
      if (Number.isFinite(lagMs)) this.metrics.lag.observe(Math.max(0, lagMs) / 1000);
    }
    this.metrics.acked.inc(written.length);
    if (this.backoffMs > 0) this.options.logger.info('postgres writes succeed again');
    this.backoffMs = 0;
  }

  /**
   * PostgreSQL (or the connection to it) failed, not the events: hand them back with a delay and
   * slow down. Such failures never count towards dead-lettering, however long they last.
   */
  private retryLater(items: readonly Decoded[], err: unknown): void {
    const first = this.backoffMs === 0;
    this.backoffMs = Math.min(Math.max(MIN_BACKOFF_MS, this.backoffMs * 2), MAX_BACKOFF_MS);
    const log = this.options.logger;
    if (first) log.error({ err: errorMessage(err) }, 'postgres write failed, backing off');
    else log.debug({ err: errorMessage(err), backoffMs: this.backoffMs }, 'postgres still failing');
    for (const { msg } of items) msg.nak(this.backoffMs);
    this.metrics.nacked.inc({ reason: 'postgres_unavailable' }, items.length);
  }

  private nakDelay(msg: JsMsg): number {
    return Math.min(MIN_BACKOFF_MS * 2 ** (msg.info.deliveryCount - 1), MAX_BACKOFF_MS);
  }

  /**
   * Publishes the message, unchanged, to `<prefix>_dlq.<reason>` with its origin and the reason in
   * headers, then terminates it. If the dead-letter publish fails the message is retried instead:
   * nothing is ever dropped silently.
   */
  private async deadLetter(msg: JsMsg, reason: string, detail: string): Promise<void> {
    const h = headers();
    h.set(DEAD_LETTER_HEADERS.reason, headerSafe(detail));
    h.set(DEAD_LETTER_HEADERS.subject, msg.subject);
    h.set(DEAD_LETTER_HEADERS.stream, this.topology.stream);
    h.set(DEAD_LETTER_HEADERS.streamSeq, String(msg.seq));
    h.set(DEAD_LETTER_HEADERS.deliveries, String(msg.info.deliveryCount));
    try {
      await this.js.publish(subjects(this.topology).deadLetter(reason), msg.data, {
        headers: h,
        // A worker that crashes between publish and term() publishes it again: deduplicated.
        msgID: `${this.topology.stream}:${msg.seq}`,
      });
    } catch (err) {
      this.options.logger.error({ err: errorMessage(err), seq: msg.seq }, 'dead-letter publish failed');
      msg.nak(this.nakDelay(msg));
      this.metrics.nacked.inc({ reason: 'dead_letter_failed' });
      return;
    }
    msg.term();
    this.metrics.deadLettered.inc({ reason });
    this.options.logger.warn({ reason, detail, subject: msg.subject, seq: msg.seq }, 'dead-lettered');
  }
}

async function ensureConsumer(jsm: JetStreamManager, config: ArchivalConfig, topology: Topology) {
  const editable = {
    ack_wait: nanos(config.ACK_WAIT_MS),
    // Bounds what a replica holds unacknowledged: the batches being written plus those prefetched.
    max_ack_pending: Math.max(1000, config.BATCH_SIZE * (config.WRITE_CONCURRENCY + 2)),
  };
  try {
    await jsm.consumers.info(config.NATS_STREAM, config.CONSUMER_NAME);
    await jsm.consumers.update(config.NATS_STREAM, config.CONSUMER_NAME, editable);
  } catch (err) {
    if (!/consumer not found/i.test(errorMessage(err))) throw err;
    await jsm.consumers.add(config.NATS_STREAM, {
      ...editable,
      durable_name: config.CONSUMER_NAME,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: subjects(topology).all,
      // The worker decides when an event is hopeless (MAX_DELIVERIES, data errors only); the
      // server must never drop one on its own, e.g. during a long PostgreSQL outage.
      max_deliver: -1,
    });
  }
}

/**
 * True when PostgreSQL refused the data itself (SQLSTATE class 22 data exception or 23 integrity
 * violation): retrying the same event will fail the same way. Everything else (connection
 * refused, unknown database, shutdown, deadlock, missing table) is about the server, not the
 * event.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Header values are one line of printable text. */
function headerSafe(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1000);
}

import { connect, headers, type JetStreamClient, type NatsConnection } from 'nats';
import pg from 'pg';
import {
  createLogger,
  createRegistry,
  encodeEvent,
  ensureStreams,
  subjectOf,
  type GavelEvent,
  type Topology,
} from '@gavel/shared';
import {
  createTestDatabase,
  dropTopology,
  testTopology,
  TEST_NATS_URL,
  waitFor,
  type TestDatabase,
} from '@gavel/shared/testing';
import { loadArchivalConfig } from '../src/config.js';
import { ArchivalWorker } from '../src/archival-worker.js';

/** One test's own stream, subjects and database, plus a NATS client to publish with. */
export interface Sandbox {
  readonly topology: Topology;
  readonly db: TestDatabase;
  readonly pool: pg.Pool;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  /** Env for a worker of this sandbox (NATS_STREAM, EVENT_PREFIX, DATABASE_URL...). */
  env(overrides?: Record<string, string>): Record<string, string>;
  publish(event: GavelEvent, msgId?: string): Promise<void>;
  publishRaw(subject: string, data: string | Uint8Array): Promise<void>;
  count(table: string, where?: string): Promise<number>;
  close(): Promise<void>;
}

export async function createSandbox(): Promise<Sandbox> {
  const topology = testTopology();
  const db = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const nc = await connect({ servers: TEST_NATS_URL });
  const js = nc.jetstream();
  await ensureStreams(await nc.jetstreamManager(), topology);
  let n = 0;
  return {
    topology,
    db,
    pool,
    nc,
    js,
    env: (overrides = {}) => ({
      DATABASE_URL: db.url,
      NATS_URL: TEST_NATS_URL,
      NATS_STREAM: topology.stream,
      EVENT_PREFIX: topology.prefix,
      LOG_LEVEL: 'silent',
      BATCH_MAX_WAIT_MS: '20',
      ACK_WAIT_MS: '2000',
      ...overrides,
    }),
    async publish(event, msgId = event.id) {
      await js.publish(subjectOf(event, topology), encodeEvent(event), { msgID: msgId });
    },
    async publishRaw(subject, data) {
      const h = headers();
      h.set('Nats-Msg-Id', `raw-${(n += 1)}-${Date.now()}`);
      await js.publish(subject, typeof data === 'string' ? new TextEncoder().encode(data) : data, {
        headers: h,
      });
    },
    async count(table, where = 'true') {
      const res = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`);
      return Number(res.rows[0]?.n);
    },
    async close() {
      await pool.end();
      await nc.close();
      await dropTopology(topology);
      await db.drop();
    },
  };
}

/** An in-process worker on a sandbox; `stop()` aborts run() and waits for it to drain. */
export async function startWorker(sandbox: Sandbox, overrides: Record<string, string> = {}) {
  const config = loadArchivalConfig(sandbox.env(overrides));
  const registry = createRegistry('archival');
  const worker = await ArchivalWorker.connect({
    config,
    logger: createLogger('archival', config.LOG_LEVEL),
    registry,
  });
  const controller = new AbortController();
  const running = worker.run(controller.signal);
  return {
    worker,
    registry,
    running,
    async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
      const m = registry.getSingleMetric(name);
      if (!m) throw new Error(`no metric ${name}`);
      const data = await m.get();
      return data.values
        .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
        .reduce((sum, v) => sum + v.value, 0);
    },
    async stop() {
      controller.abort();
      await running;
      await worker.close();
    },
  };
}

/** Messages in the sandbox's dead-letter stream, with their headers. */
export async function readDeadLetters(sandbox: Sandbox, expected: number) {
  const jsm = await sandbox.nc.jetstreamManager();
  const stream = `${sandbox.topology.stream}_DLQ`;
  await waitFor(async () => (await jsm.streams.info(stream)).state.messages >= expected, {
    timeoutMs: 20_000,
    what: `${expected} dead letters`,
  });
  const info = await jsm.streams.info(stream);
  const letters = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq += 1) {
    const m = await jsm.streams.getMessage(stream, { seq });
    letters.push({ subject: m.subject, data: new TextDecoder().decode(m.data), header: m.header });
  }
  return letters;
}

export { waitFor };

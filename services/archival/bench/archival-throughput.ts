/**
 * Archival throughput: events/s from a pre-filled JetStream stream into PostgreSQL through the
 * real worker, beside a PostgreSQL COPY of the same rows into an identical table, measured in
 * the same run. Run under `flock /tmp/bench.lock npm run bench -w services/archival`.
 *
 * BENCH_EVENTS (default 50000) and BENCH_WORKERS (BATCH_SIZExWRITE_CONCURRENCY pairs, default
 * "256x1,256x2,1000x2,1000x4") and BENCH_ROUNDS (default 2) tune the run.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { connect } from 'nats';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  createLogger,
  createRegistry,
  decodeEvent,
  encodeEvent,
  ensureStreams,
  makeEvent,
  subjectOf,
  type BidAccepted,
} from '@gavel/shared';
import {
  createTestDatabase,
  dropTopology,
  REPO_ROOT,
  testTopology,
  TEST_NATS_URL,
  waitFor,
} from '@gavel/shared/testing';
import { loadArchivalConfig } from '../src/config.js';
import { ArchivalWorker } from '../src/archival-worker.js';
import { migrate } from '../src/migrate.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const WORKERS = (process.env.BENCH_WORKERS ?? '256x1,256x2,1000x2,1000x4').split(',').map((pair) => {
  const [batchSize, concurrency] = pair.split('x').map(Number);
  return { batchSize: batchSize ?? 256, concurrency: concurrency ?? 1 };
});
const ITEMS = 50;
/** Each worker configuration runs this many times; COPY runs once per round, plus once. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

const topology = testTopology();
const nc = await connect({ servers: TEST_NATS_URL });
const databases: Array<{ drop(): Promise<void> }> = [];

try {
  const jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, topology);
  const js = nc.jetstream();
  const bids: BidAccepted[] = [];
  for (let i = 0; i < EVENTS; i += 1) {
    const seq = Math.floor(i / ITEMS) + 1;
    bids.push(
      makeEvent('bid.accepted', {
        itemId: `item${i % ITEMS}`,
        seq,
        userId: `u${i % 97}`,
        amountCents: 100 * seq,
      }),
    );
  }
  let started = performance.now();
  for (let i = 0; i < bids.length; i += 1000) {
    await Promise.all(
      bids.slice(i, i + 1000).map((b) => js.publish(subjectOf(b, topology), encodeEvent(b), { msgID: b.id })),
    );
  }
  const publishSeconds = (performance.now() - started) / 1000;
  console.log(`stream pre-filled with ${EVENTS} bid events in ${publishSeconds.toFixed(1)} s`);

  // Decoding alone (JSON + schema), the CPU floor of the worker's per-event work.
  const payloads = bids.map((b) => encodeEvent(b));
  started = performance.now();
  for (const p of payloads) if (!decodeEvent(p).ok) throw new Error('decode failed');
  const decodePerSecond = EVENTS / ((performance.now() - started) / 1000);

  const workerRuns: Array<{
    batchSize: number;
    concurrency: number;
    seconds: number;
    eventsPerSecond: number;
  }> = [];
  const copyRuns: Array<{ seconds: number; rowsPerSecond: number }> = [];

  // Interleave COPY and every worker configuration, round after round, so that drift on the
  // shared machine hits all of them alike.
  let run = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    copyRuns.push(await copyRun(bids));
    for (const w of WORKERS) workerRuns.push(await workerRun(w.batchSize, w.concurrency, (run += 1)));
  }
  copyRuns.push(await copyRun(bids));

  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    return sorted.length % 2 === 1
      ? (sorted[Math.floor(mid)] ?? NaN)
      : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
  };
  const copyRate = median(copyRuns.map((r) => r.rowsPerSecond));
  const workerSummary = WORKERS.map((w) => {
    const rates = workerRuns
      .filter((r) => r.batchSize === w.batchSize && r.concurrency === w.concurrency)
      .map((r) => r.eventsPerSecond);
    const eventsPerSecond = median(rates);
    return { ...w, rates: rates.map(Math.round), eventsPerSecond, ratioToCopy: eventsPerSecond / copyRate };
  });
  const machine = {
    nproc: execSync('nproc').toString().trim(),
    cpu:
      execSync("lscpu | grep 'Model name' || true").toString().replace('Model name:', '').trim() ||
      cpus()[0]?.model,
    node: process.version,
    postgres: await serverVersion(),
    note: process.env.BENCH_MACHINE_NOTE ?? 'other work on the machine not stated (set BENCH_MACHINE_NOTE)',
  };
  const results = {
    date: new Date().toISOString(),
    machine,
    events: EVENTS,
    items: ITEMS,
    publishSeconds,
    decodePerSecond: Math.round(decodePerSecond),
    copy: { runs: copyRuns, medianRowsPerSecond: Math.round(copyRate) },
    workerRuns,
    worker: workerSummary.map((w) => ({ ...w, ratioToCopy: Number(w.ratioToCopy.toFixed(3)) })),
  };
  const fmt = (n: number) => Math.round(n).toLocaleString('en');
  const rows = workerSummary
    .map(
      (w) =>
        `| archival worker, BATCH_SIZE=${w.batchSize}, WRITE_CONCURRENCY=${w.concurrency} | ${w.rates.map(fmt).join(', ')} | ${fmt(w.eventsPerSecond)} | ${w.ratioToCopy.toFixed(2)} |`,
    )
    .join('\n');
  const copyRow = `| PostgreSQL COPY into an identical table | ${copyRuns.map((r) => fmt(r.rowsPerSecond)).join(', ')} | ${fmt(copyRate)} | 1.00 |`;
  const md = `# Archival throughput

${EVENTS.toLocaleString('en')} \`bid.accepted\` events (${ITEMS} items) pre-filled in a JetStream stream, archived into
PostgreSQL by the real worker (durable pull consumer, schema decode, one transaction per batch with
idempotent multi-row inserts, ack after commit), beside a \`COPY\` of the same rows into a table
with the same columns, keys and indexes (\`CREATE TABLE ... (LIKE bids INCLUDING ALL)\`), measured in
the same run, interleaved over ${ROUNDS} rounds. Medians; the ratio is worker median / COPY median.

| path | rows/s, each run | median rows/s | ratio to COPY |
|---|---:|---:|---:|
${rows}
${copyRow}

Worker time runs from \`run()\` (which first confirms the migrations are applied) to the last
acknowledgement; COPY time from the first row sent to the end of the COPY. What the worker pays and
COPY does not: a JetStream delivery and an ack per event, JSON parse and schema validation per event,
and \`INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING\` (parameter arrays, a conflict check
on two unique indexes) with a COMMIT per batch. That price buys idempotence (redelivery writes
nothing) and ack-after-commit.

Decoding alone (JSON.parse + schema check) runs at ${Math.round(decodePerSecond).toLocaleString('en')} events/s on one core.
Publishing the stream took ${publishSeconds.toFixed(1)} s (not part of any figure).

Machine: ${machine.nproc} CPUs (${machine.cpu}), Node ${machine.node}, PostgreSQL ${machine.postgres}, NATS
server on the same host; ${machine.note}. Figures vary run to run on this machine; read
the ratios, not the absolute numbers.

Reproduce: \`flock /tmp/bench.lock npm run bench -w services/archival\` (raw figures in
\`archival-throughput.json\`).
`;
  mkdirSync(`${REPO_ROOT}/docs/results`, { recursive: true });
  writeFileSync(
    `${REPO_ROOT}/docs/results/archival-throughput.json`,
    `${JSON.stringify(results, null, 2)}\n`,
  );
  writeFileSync(`${REPO_ROOT}/docs/results/archival-throughput.md`, md);
  console.log(md);
} finally {
  await nc.close();
  await dropTopology(topology);
  for (const db of databases) await db.drop();
}

async function freshDatabase(): Promise<string> {
  const db = await createTestDatabase();
  databases.push(db);
  await migrate(db.url);
  return db.url;
}

async function workerRun(batchSize: number, concurrency: number, run: number) {
  const url = await freshDatabase();
  const config = loadArchivalConfig({
    DATABASE_URL: url,
    NATS_URL: TEST_NATS_URL,
    NATS_STREAM: topology.stream,
    EVENT_PREFIX: topology.prefix,
    BATCH_SIZE: String(batchSize),
    WRITE_CONCURRENCY: String(concurrency),
    // Each run reads the whole stream from the start with its own durable consumer.
    CONSUMER_NAME: `bench${run}`,
    LOG_LEVEL: 'warn',
  });
  const registry = createRegistry('archival');
  const worker = await ArchivalWorker.connect({ config, logger: createLogger('archival', 'warn'), registry });
  const controller = new AbortController();
  const started = performance.now();
  const running = worker.run(controller.signal);
  const acked = registry.getSingleMetric('gavel_archival_messages_acked_total');
  await waitFor(async () => ((await acked?.get())?.values[0]?.value ?? 0) >= EVENTS, {
    timeoutMs: 120_000,
    intervalMs: 10,
    what: 'archival of every event',
  });
  const seconds = (performance.now() - started) / 1000;
  controller.abort();
  await running;
  await worker.close();
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const count = Number((await pool.query('SELECT count(*) AS n FROM bids')).rows[0].n);
  await pool.end();
  if (count !== EVENTS) throw new Error(`worker stored ${count} rows, expected ${EVENTS}`);
  console.log(
    `worker BATCH_SIZE=${batchSize} WRITE_CONCURRENCY=${concurrency}: ${seconds.toFixed(2)} s, ${Math.round(EVENTS / seconds)} events/s`,
  );
  return { batchSize, concurrency, seconds, eventsPerSecond: EVENTS / seconds };
}

async function copyRun(bids: readonly BidAccepted[]) {
  const url = await freshDatabase();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE bids_copy (LIKE bids INCLUDING ALL)');
    const started = performance.now();
    // Text format in chunks of 1000 rows: the fastest way PostgreSQL takes rows in.
    const lines = function* () {
      for (let i = 0; i < bids.length; i += 1000) {
        yield bids
          .slice(i, i + 1000)
          .map((b) => `${b.itemId}\t${b.seq}\t${b.userId}\t${b.amountCents}\t${b.at}\t${b.id}\n`)
          .join('');
      }
    };
    await pipeline(
      Readable.from(lines()),
      client.query(
        copyFrom('COPY bids_copy (item_id, seq, user_id, amount_cents, accepted_at, event_id) FROM STDIN'),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const count = Number((await client.query('SELECT count(*) AS n FROM bids_copy')).rows[0].n);
    if (count !== bids.length) throw new Error(`COPY stored ${count} rows`);
    console.log(`COPY: ${seconds.toFixed(2)} s, ${Math.round(bids.length / seconds)} rows/s`);
    return { seconds, rowsPerSecond: bids.length / seconds };
  } finally {
    await client.end();
  }
}

async function serverVersion(): Promise<string> {
  const db = databases[0];
  if (!db) return 'unknown';
  const client = new pg.Client({
    connectionString: process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  await client.connect();
  const v = (await client.query('SHOW server_version')).rows[0].server_version as string;
  await client.end();
  return v;
}

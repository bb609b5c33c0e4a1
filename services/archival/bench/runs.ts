import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { JetStreamManager, NatsConnection } from 'nats';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ensureStreams, subjects, type Topology } from '@gavel/shared';
import {
  createTestDatabase,
  dropTopology,
  testTopology,
  waitFor,
  type TestDatabase,
} from '@gavel/shared/testing';
import { migrate } from '../src/migrate.js';
import { watchAcks, type LatencySummary } from './ack-watch.js';
import { benchBid } from './bench-events.js';
import { runLoad, type LoadPhase } from './load-process.js';
import { busyShare, cpuMicros, machineTicks } from './process-cpu.js';
import { backendCpu, backendCpuUsed, startWorkerProcess, type WorkerVariant } from './worker-process.js';

/** What every run needs: connections to NATS and to PostgreSQL's admin database. */
export interface BenchContext {
  readonly natsUrl: string;
  /** The benchmark's own nats-server, whose CPU is then the benchmark's alone. */
  readonly natsPid?: number;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly admin: pg.Client;
}

export interface WorkerSettings {
  readonly batchSize: number;
  readonly concurrency: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  // Migrated beforehand, so the worker's own migrate() finds nothing to do.
  await migrate(db.url);
  return db;
}

async function countRows(url: string, table: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
  } finally {
    await client.end();
  }
}

function workerEnv(
  ctx: BenchContext,
  topology: Topology,
  databaseUrl: string,
  extra: Record<string, string>,
) {
  return {
    DATABASE_URL: databaseUrl,
    NATS_URL: ctx.natsUrl,
    NATS_STREAM: topology.stream,
    EVENT_PREFIX: topology.prefix,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** One reading of everything a run divides by: time, the worker's CPU, its backends', the machine's. */
async function reading(ctx: BenchContext, pid: number, database: string) {
  const at = performance.now();
  const monotonicUs = Number(process.hrtime.bigint() / 1000n);
  const worker = cpuMicros(pid);
  const nats = ctx.natsPid === undefined ? Number.NaN : cpuMicros(ctx.natsPid);
  const machine = machineTicks();
  const backends = await backendCpu(ctx.admin, database);
  return { at, monotonicUs, worker, nats, machine, backends };
}
type Reading = Awaited<ReturnType<typeof reading>>;

function between(from: Reading, to: Reading, events: number) {
  return {
    seconds: (to.at - from.at) / 1000,
    workerUsPerEvent: (to.worker - from.worker) / events,
    backendUsPerEvent: backendCpuUsed(from.backends, to.backends) / events,
    natsServerUsPerEvent: (to.nats - from.nats) / events,
    workerCoreShare: (to.worker - from.worker) / 1000 / (to.at - from.at),
    machineBusyShare: busyShare(from.machine, to.machine),
  };
}

export interface CopyRun {
  readonly seconds: number;
  readonly rowsPerSecond: number;
  readonly clientUsPerRow: number;
  readonly backendUsPerRow: number;
  readonly machineBusyShare: number;
}

/**
 * The baseline: the same rows sent with COPY (text format, 1000 rows a chunk) into a table
 * with the same columns, keys and indexes as `bids`.
 */
export async function copyRun(tag: string, rows: number): Promise<CopyRun> {
  const db = await freshDatabase();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query('CREATE TABLE bids_copy (LIKE bids INCLUDING ALL)');
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const lines = function* () {
      for (let i = 0; i < rows; i += 1000) {
        let chunk = '';
        for (let j = i; j < Math.min(rows, i + 1000); j += 1) {
          const b = benchBid(tag, j);
          chunk += `${b.itemId}\t${b.seq}\t${b.userId}\t${b.amountCents}\t${b.at}\t${b.id}\n`;
        }
        yield chunk;
      }
    };
    const backend0 = cpuMicros(backend);
    const machine0 = machineTicks();
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    await pipeline(
      Readable.from(lines()),
      client.query(
        copyFrom('COPY bids_copy (item_id, seq, user_id, amount_cents, accepted_at, event_id) FROM STDIN'),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const result = {
      seconds,
      rowsPerSecond: rows / seconds,
      clientUsPerRow: (cpu.user + cpu.system) / rows,
      backendUsPerRow: (cpuMicros(backend) - backend0) / rows,
      machineBusyShare: busyShare(machine0, machineTicks()),
    };
    const count = Number(
      (await client.query<{ n: string }>('SELECT count(*) AS n FROM bids_copy')).rows[0]?.n,
    );
    if (count !== rows) throw new Error(`COPY stored ${count} rows, expected ${rows}`);
    return result;
  } finally {
    await client.end();
    await db.drop();
  }
}

export interface DrainRun extends WorkerSettings {
  readonly variant: string;
  readonly eventsPerSecond: number;
  readonly seconds: number;
  readonly workerUsPerEvent: number;
  readonly backendUsPerEvent: number;
  /** NaN on the shared server, whose CPU other tests use too. */
  readonly natsServerUsPerEvent: number;
  readonly workerCoreShare: number;
  readonly machineBusyShare: number;
  /** Only for profiled runs: the .cpuprofile and the measured window on CLOCK_MONOTONIC (µs). */
  readonly cpuProfile?: { path: string; fromUs: number; toUs: number };
}

let consumers = 0;

/**
 * A backlog: a new worker process with a new durable consumer reads the pre-filled stream from
 * the start into a fresh database. Measured from the moment 2% of the events are acknowledged
 * (start-up left out) to the last acknowledgement, as the consumer's state on the server says.
 */
export async function drainRun(
  ctx: BenchContext,
  topology: Topology,
  events: number,
  variant: WorkerVariant,
  settings: WorkerSettings,
  cpuProfileDir?: string,
): Promise<DrainRun> {
  const db = await freshDatabase();
  const consumer = `bench${(consumers += 1)}`;
  // Readings are taken when the acknowledgements, watched on the wire, cross 10% (start-up and
  // most of the JIT warm-up behind) and 100%. (Polling the consumer's state instead costs the
  // server a scan of the stream per request and slows the very deliveries being measured.)
  let workerPid = 0;
  let firstAt: Promise<{ acked: number; reading: Reading }> | undefined;
  let lastAt: Promise<Reading> | undefined;
  const acks = await watchAcks(ctx.nc, topology.stream, {
    consumer,
    onAck: (acked) => {
      if (!firstAt && workerPid !== 0 && acked >= events * 0.1) {
        firstAt = reading(ctx, workerPid, db.name).then((r) => ({ acked, reading: r }));
      }
      if (!lastAt && acked >= events) lastAt = reading(ctx, workerPid, db.name);
    },
  });
  const worker = await startWorkerProcess(
    variant,
    workerEnv(ctx, topology, db.url, {
      BATCH_SIZE: String(settings.batchSize),
      WRITE_CONCURRENCY: String(settings.concurrency),
      CONSUMER_NAME: consumer,
    }),
    cpuProfileDir ? { cpuProfileDir: `${cpuProfileDir}/${consumer}` } : {},
  );
  workerPid = worker.pid;
  let first: { acked: number; reading: Reading } | undefined;
  let last: Reading | undefined;
  try {
    await waitFor(() => lastAt, { timeoutMs: 300_000, intervalMs: 20, what: `${variant.label}: drain` });
    [first, last] = await Promise.all([firstAt, lastAt]);
  } finally {
    await acks.stop();
    await worker.stop();
  }
  if (!first || !last) throw new Error('no readings');
  await ctx.jsm.consumers.delete(topology.stream, consumer);
  const stored = await countRows(db.url, 'bids');
  await db.drop();
  if (stored !== events) throw new Error(`${variant.label} stored ${stored} rows, expected ${events}`);
  const measured = events - first.acked;
  const span = between(first.reading, last, measured);
  return {
    variant: variant.label,
    ...settings,
    ...span,
    eventsPerSecond: measured / span.seconds,
    ...(cpuProfileDir
      ? {
          cpuProfile: {
            path: worker.cpuProfile() ?? 'missing',
            fromUs: first.reading.monotonicUs,
            toUs: last.monotonicUs,
          },
        }
      : {}),
  };
}

export interface LiveRun {
  readonly variant: string;
  readonly published: number;
  readonly publishedPerSecond: number;
  readonly workerUsPerEvent: number;
  readonly backendUsPerEvent: number;
  readonly natsServerUsPerEvent: number;
  readonly workerCoreShare: number;
  readonly machineBusyShare: number;
  readonly maxLag: number;
  /** Stream (stored) → acknowledged after COMMIT, per event, in ms. */
  readonly latencyMs: LatencySummary;
  /** Burst runs only. */
  readonly burst?: BurstFigures;
}

export interface BurstFigures {
  readonly events: number;
  readonly publishSeconds: number;
  /** Largest lag in the steady phase before the burst: "back to normal" means back under it. */
  readonly steadyLag: number;
  readonly peakLag: number;
  /** From the burst's first event until the lag is back under steadyLag. */
  readonly recoverySeconds: number;
  /** Events acknowledged per second meanwhile (the load's own included). */
  readonly catchUpPerSecond: number;
}

/**
 * Live load from the load process while a worker (default settings) runs: a steady rate, or a
 * steady rate with a burst in the middle. The first phase is a warm-up; CPU and latencies are
 * read over the phases after it, idle moments included, as a deployment pays them.
 */
export async function liveRun(
  ctx: BenchContext,
  variant: WorkerVariant,
  tag: string,
  phases: readonly LoadPhase[],
): Promise<LiveRun> {
  const topology = testTopology();
  await ensureStreams(ctx.jsm, topology);
  const db = await freshDatabase();
  const worker = await startWorkerProcess(variant, workerEnv(ctx, topology, db.url, {}), {
    readyPath: '/readyz',
  });
  const acks = await watchAcks(ctx.nc, topology.stream);
  // Lag = events published (seen by a plain subscriber) minus events acknowledged, without
  // asking the server for the consumer's state (which costs it a scan of the stream).
  let published = 0;
  const seen = ctx.nc.subscribe(subjects(topology).all, { callback: () => (published += 1) });
  await ctx.nc.flush();
  const lag: Array<{ t: number; lag: number; acked: number }> = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      lag.push({ t: Date.now(), lag: published - acks.acked, acked: acks.acked });
      await sleep(50);
    }
  })();
  try {
    // The first phase warms the worker up (JIT, pool connections); the figures start after it.
    let start: Promise<Reading> | undefined;
    const load = await runLoad({ natsUrl: ctx.natsUrl, topology, tag, phases }, (index, report) => {
      if (index !== 0) return;
      acks.recordOnlyAbove(report.published);
      start = reading(ctx, worker.pid, db.name);
    });
    await waitFor(() => acks.acked >= load.published, {
      timeoutMs: 300_000,
      intervalMs: 20,
      what: `${variant.label}: every event acknowledged`,
    });
    const end = await reading(ctx, worker.pid, db.name);
    const measured = load.published - load.phases[0]!.published;
    sampling = false;
    await sampler;
    const latencyMs = acks.summary();
    const stored = (await ctx.jsm.streams.info(topology.stream)).state.messages;
    if (stored !== load.published) throw new Error(`stream holds ${stored} of ${load.published} events`);
    const rows = await countRows(db.url, 'bids');
    if (rows !== load.published) throw new Error(`${variant.label} stored ${rows} of ${load.published}`);
    const span = between(await start!, end, measured);
    const firstPhase = load.phases[1]!;
    const lastPhase = load.phases[load.phases.length - 1]!;
    const burstIndex = phases.findIndex((p) => p.kind === 'burst');
    return {
      variant: variant.label,
      published: measured,
      publishedPerSecond: measured / ((lastPhase.endedAt - firstPhase.startedAt) / 1000),
      workerUsPerEvent: span.workerUsPerEvent,
      backendUsPerEvent: span.backendUsPerEvent,
      natsServerUsPerEvent: span.natsServerUsPerEvent,
      workerCoreShare: span.workerCoreShare,
      machineBusyShare: span.machineBusyShare,
      maxLag: Math.max(0, ...lag.map((s) => s.lag)),
      latencyMs,
      ...(burstIndex > 0
        ? { burst: burstFigures(lag, load.phases[burstIndex - 1]!, load.phases[burstIndex]!) }
        : {}),
    };
  } finally {
    sampling = false;
    await sampler;
    seen.unsubscribe();
    await acks.stop();
    await worker.stop().catch((err: unknown) => console.error(String(err)));
    await dropTopology(topology, ctx.natsUrl);
    await db.drop();
  }
}

function burstFigures(
  lag: ReadonlyArray<{ t: number; lag: number; acked: number }>,
  before: { startedAt: number },
  burst: { startedAt: number; endedAt: number; published: number },
): BurstFigures {
  // The first second of the steady phase is the worker finding its pace; leave it out.
  const steady = lag.filter((s) => s.t >= before.startedAt + 1000 && s.t < burst.startedAt);
  const steadyLag = Math.max(1, ...steady.map((s) => s.lag));
  const recovered = lag.find((s) => s.t > burst.endedAt && s.lag <= steadyLag);
  const atBurst = [...lag].reverse().find((s) => s.t <= burst.startedAt) ?? lag[0];
  if (!recovered || !atBurst) throw new Error('the lag never came back to its steady level');
  const recoverySeconds = (recovered.t - burst.startedAt) / 1000;
  return {
    events: burst.published,
    publishSeconds: (burst.endedAt - burst.startedAt) / 1000,
    steadyLag,
    peakLag: Math.max(...lag.map((s) => s.lag)),
    recoverySeconds,
    catchUpPerSecond: (recovered.acked - atBurst.acked) / ((recovered.t - atBurst.t) / 1000),
  };
}

/** Pre-fills a stream for the drain runs, from the load process, and checks it holds them all. */
export async function prefill(ctx: BenchContext, tag: string, events: number) {
  const topology = testTopology();
  await ensureStreams(ctx.jsm, topology);
  const started = performance.now();
  const load = await runLoad({
    natsUrl: ctx.natsUrl,
    topology,
    tag,
    phases: [{ kind: 'burst', events }],
  });
  await waitFor(async () => (await ctx.jsm.streams.info(topology.stream)).state.messages >= events, {
    timeoutMs: 60_000,
    what: 'the stream to hold every event',
  });
  const stored = (await ctx.jsm.streams.info(topology.stream)).state.messages;
  if (stored !== events || load.published !== events) {
    throw new Error(`published ${load.published}, stream holds ${stored}, expected ${events}`);
  }
  return { topology, seconds: (performance.now() - started) / 1000 };
}

/**
 * The Redis Cluster scaling figure: accepted bids spread over many items, against one Redis
 * node and against a 3-primary Redis Cluster, both private to this run and both without
 * persistence, interleaved in rounds, with one and with two api replicas. Per run: accepted
 * bids/s, the api's CPU per bid, every redis-server's CPU per bid (summed, and per shard),
 * Redis commands per bid, latency, errors; after each run a check that every item's accepted
 * seqs are gapless and agree with Redis and with JetStream. Writes
 * docs/results/redis-cluster-scaling.{md,json}.
 *
 *   npm run bench:cluster -w services/api                the full run (4–5 minutes)
 *   npm run bench:cluster -w services/api -- --quick     a smoke run (under a minute)
 *   npm run bench:cluster -w services/api -- --rebuild   the Markdown again from the JSON (after
 *                                                        editing the notes or the reading)
 *
 * Like contention.ts: the load comes from a separate process (autocannon, load-generator.ts),
 * the api runs from its build with the outbox relay (to the shared NATS, a stream of its own)
 * and the closer on, and BENCH_API_ENV adds settings to every api process.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { signToken, subjects, type RedisConnection, type Topology } from '@gavel/shared';
import {
  LocalRedisCluster,
  PrivateRedis,
  REPO_ROOT,
  TEST_NATS_URL,
  benchProgress,
  benchResultsDir,
  benchSettings,
  dropTopology,
  testTopology,
  uniqueId,
  waitFor,
} from '@gavel/shared/testing';
import { outboxDepth } from '../src/redis-client.js';
import { CLUSTER_PARTITIONS, redisKeys, type RedisKeys } from '../src/redis-keys.js';
import {
  BENCH_AUTH_SECRET,
  EXTRA_API_ENV,
  bidPath,
  buildApi,
  describeMachine,
  loadAverage,
  openItem,
  startBenchApi,
} from './bench-api.js';
import {
  fmt,
  reportMarkdown,
  summarize,
  type BackendDescription,
  type BackendKey,
  type Check,
  type Idle,
  type NodeFigures,
  type Run,
  type ScalingReport,
} from './cluster-scaling-report.js';
import { LoadGenerator, latencySummary, measureProcesses, type BenchServer } from './harness.js';
import type { LoadSpec } from './load-spec.js';
import { findServerPid, machineCpuTicks, processCpuMicros } from './proc-cpu.js';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, rebuild: { type: 'boolean', default: false } },
});
const QUICK = args.quick === true;
// The bench harness (npm run bench at the root) may set these; see @gavel/shared's bench-run.ts.
const SETTINGS = benchSettings({
  /** Rounds; each runs every scenario once (backend × api replicas), the order rotating. */
  rounds: QUICK ? 1 : 3,
  /** Seconds of a measured run, and of the warm-up before it (every api process is new). */
  runS: QUICK ? 2 : 8,
  warmupS: QUICK ? 1 : 3,
  /** Seconds with the apis up and no load, in the first round: what the background loops cost. */
  idleS: QUICK ? 1 : 3,
  /** Items opened on each backend before the first run; every bid goes to one of them. */
  items: QUICK ? 48 : 200,
  /** autocannon connections, one bidder (jwt subject) each, cycling through items of their own. */
  connections: QUICK ? 16 : 50,
  apiReplicas: QUICK ? [1] : [1, 2],
  primaries: 3,
  /** Replicas of each cluster primary (0: like the single node, which has none). */
  replicasPerPrimary: 0,
  /** Runs the api from source (tsx) instead of building it first: a smoke run's shortcut. */
  fromSource: false,
});

// Each connection bids on items of its own: fewer items than connections would make them race.
if (SETTINGS.items < SETTINGS.connections || SETTINGS.apiReplicas.some((r) => !(r >= 1))) {
  process.stderr.write(
    `cluster-scaling: items (${SETTINGS.items}) must be at least connections (${SETTINGS.connections}), and each apiReplicas entry at least 1\n`,
  );
  process.exit(2);
}

const OUT_DIR = benchResultsDir(REPO_ROOT);

/** Writes the JSON (unless rebuilding from it) and the Markdown, with the notes appended. */
async function writeReport(report: ScalingReport, json = true): Promise<void> {
  const notes = await readFile(new URL('./cluster-scaling-notes.md', import.meta.url), 'utf8');
  await mkdir(OUT_DIR, { recursive: true });
  if (json)
    await writeFile(join(OUT_DIR, 'redis-cluster-scaling.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(OUT_DIR, 'redis-cluster-scaling.md'), reportMarkdown(report, notes));
  process.stderr.write(`wrote ${join(OUT_DIR, 'redis-cluster-scaling.md')}\n`);
}

if (args.rebuild) {
  const report = JSON.parse(
    await readFile(join(OUT_DIR, 'redis-cluster-scaling.json'), 'utf8'),
  ) as ScalingReport;
  await writeReport(report, false);
  process.exit(0);
}

interface RedisNode {
  readonly port: number;
  readonly pid: number;
  readonly role: 'primary' | 'replica';
  /** A plain connection to it alone, for INFO. */
  readonly direct: Redis;
}

interface Backend {
  readonly key: BackendKey;
  readonly label: string;
  /** REDIS_URL (and REDIS_CLUSTER) for the api. */
  readonly env: Record<string, string>;
  readonly prefix: string;
  readonly topology: Topology;
  readonly keys: RedisKeys;
  /** The bench's own client (cluster-aware on the cluster), for the checks. */
  readonly client: RedisConnection;
  readonly nodes: readonly RedisNode[];
  /** The primary (port) serving each item's keys. */
  readonly shardOf: Map<string, number>;
  items: string[];
  /** The checks' memory, across all runs so far. */
  readonly seen: Seen;
  stop(): Promise<void>;
}

interface Seen {
  /** Every seq each item's bidders were answered 201 with. */
  readonly answered: Map<string, number[]>;
  /** The seq of every bid.accepted event of each item in JetStream, in stream order. */
  readonly stored: Map<string, number[]>;
  /** The stream sequence read up to. */
  streamSeq: number;
  /** Loads run (warm-ups included): each may leave one answer per connection unread. */
  loads: number;
}

const newSeen = (): Seen => ({ answered: new Map(), stored: new Map(), streamSeq: 0, loads: 0 });

const started = new Date().toISOString();
const machine = describeMachine(
  loadAverage(),
  process.env.BENCH_MACHINE_NOTE ??
    'shared 2-core VM: other helpers were building and testing on it at the same time (load average above); load generator, api, every redis-server and NATS on the same 2 cores',
);
const users = Array.from({ length: SETTINGS.connections }, (_, i) => `bench_u${i}`);
const tokens = await Promise.all(users.map((u) => signToken(BENCH_AUTH_SECRET, u)));

buildApi(SETTINGS.fromSource);
process.stderr.write('starting a single Redis node and a Redis Cluster ...\n');
const nc = await connect({ servers: TEST_NATS_URL });
// The shared nats-server, if it runs here: its CPU per bid includes other users' traffic.
const natsPid = findServerPid('nats-server', ['-p', '--port'], Number(new URL(TEST_NATS_URL).port || 4222));
const backends: Backend[] = [];
const generator = await LoadGenerator.start();
try {
  backends.push(await singleBackend(), await clusterBackend());
  const scenarios = backends.flatMap((b) =>
    SETTINGS.apiReplicas.map((replicas) => ({ backend: b, replicas })),
  );
  const progress = benchProgress(SETTINGS.rounds * scenarios.length);
  const runs: Run[] = [];
  for (let round = 0; round < SETTINGS.rounds; round++) {
    process.stderr.write(`round ${round + 1}/${SETTINGS.rounds}\n`);
    // Rotated each round, so that no scenario always follows the same one.
    for (let i = 0; i < scenarios.length; i++) {
      const { backend, replicas } = scenarios[(i + round) % scenarios.length]!;
      const run = await runOnce(backend, replicas, round);
      runs.push(run);
      process.stderr.write(
        `  ${backend.key.padEnd(7)} ×${replicas} api  ${fmt(run.acceptedPerS).padStart(6)} bids/s  api ${fmt(run.apiUsPerBid)} µs/bid  ` +
          `redis ${fmt(run.redisUsPerBid, 1)} µs/bid (busiest ${fmt(run.busiest.usPerBid, 1)})  ${JSON.stringify(run.statuses)}\n`,
      );
      progress.step(`${backend.key} ×${replicas}`);
    }
  }
  machine.loadAverage.after = loadAverage();
  const report: ScalingReport = {
    started,
    finished: new Date().toISOString(),
    quick: QUICK,
    machine,
    settings: { ...SETTINGS, clusterPartitions: CLUSTER_PARTITIONS, apiEnv: EXTRA_API_ENV },
    authMode: 'jwt',
    backends: Object.fromEntries(backends.map((b) => [b.key, describeBackend(b)])),
    summary: scenarios.map(({ backend, replicas }) =>
      summarize(
        backend.key,
        replicas,
        runs.filter((r) => r.backend === backend.key && r.apiReplicas === replicas),
      ),
    ),
    runs,
  };
  await writeReport(report);
} finally {
  generator.stop();
  for (const b of backends) await b.stop().catch(() => undefined);
  await nc.close();
}

// ---------------------------------------------------------------- backends

async function singleBackend(): Promise<Backend> {
  // No persistence, as the cluster's nodes: the two differ only in being one node or three.
  const redis = await PrivateRedis.start({ durable: false });
  const client = new Redis(redis.url);
  const prefix = `${uniqueId('bench')}:`;
  const topology = testTopology();
  return {
    key: 'single',
    label: '1 node',
    env: { REDIS_URL: redis.url },
    prefix,
    topology,
    keys: redisKeys(prefix),
    client,
    nodes: [{ port: redis.port, pid: redis.pid!, role: 'primary', direct: client }],
    shardOf: new Map(),
    items: [],
    seen: newSeen(),
    async stop() {
      client.disconnect();
      await redis.stop();
      await dropTopology(topology).catch(() => undefined);
    },
  };
}

async function clusterBackend(): Promise<Backend> {
  const cluster = await LocalRedisCluster.start({
    primaries: SETTINGS.primaries,
    replicasPerPrimary: SETTINGS.replicasPerPrimary,
  });
  const owners = await cluster.slotOwners();
  const primaries = new Set(owners.map((o) => o.port));
  const nodes = cluster.nodes.map((n) => {
    const direct = new Redis({ host: '127.0.0.1', port: n.port });
    direct.on('error', () => undefined);
    return {
      port: n.port,
      pid: n.child.pid!,
      role: primaries.has(n.port) ? 'primary' : 'replica',
      direct,
    } as const;
  });
  const client = cluster.client();
  const prefix = `${uniqueId('bench')}:`;
  const topology = testTopology();
  return {
    key: 'cluster',
    label: `${SETTINGS.primaries}-primary cluster${SETTINGS.replicasPerPrimary ? ` (+${SETTINGS.replicasPerPrimary} replica each)` : ''}`,
    env: cluster.env(),
    prefix,
    topology,
    keys: redisKeys(prefix, { cluster: true }),
    client,
    nodes,
    shardOf: new Map(),
    items: [],
    seen: newSeen(),
    async stop() {
      client.disconnect();
      for (const n of nodes) n.direct.disconnect();
      await cluster.stop();
      await dropTopology(topology).catch(() => undefined);
    },
  };
}

/** Opens the backend's items (once, through its first api) and notes each one's shard. */
async function openItems(backend: Backend, api: BenchServer): Promise<void> {
  backend.items = await Promise.all(
    Array.from({ length: SETTINGS.items }, () => openItem(api.url, tokens[0]!)),
  );
  if (backend.key === 'single') {
    for (const item of backend.items) backend.shardOf.set(item, backend.nodes[0]!.port);
    return;
  }
  const owners = await backend.nodes[0]!.direct.call('CLUSTER', 'SLOTS');
  const ranges = (owners as Array<[number, number, [string, number]]>).map(([from, to, primary]) => ({
    from,
    to,
    port: primary[1],
  }));
  for (const item of backend.items) {
    const slot = calculateSlot(backend.keys.item(item));
    backend.shardOf.set(item, ranges.find((r) => r.from <= slot && slot <= r.to)!.port);
  }
}

function describeBackend(b: Backend): BackendDescription {
  const itemsPerNode = Object.fromEntries(
    b.nodes
      .filter((n) => n.role === 'primary')
      .map((n) => [n.port, b.items.filter((i) => b.shardOf.get(i) === n.port).length]),
  );
  return {
    label: b.label,
    nodes: b.nodes.map((n) => ({ port: n.port, role: n.role })),
    items: b.items.length,
    itemsPerPrimary: itemsPerNode,
    partitions: b.keys.partitions.length,
  };
}

// ---------------------------------------------------------------- one run

/** Counters of each node (INFO stats): commands run, and socket reads it processed. */
async function nodeCounters(
  nodes: readonly RedisNode[],
): Promise<Array<{ commands: number; reads: number }>> {
  return Promise.all(
    nodes.map(async (n) => {
      const info = await n.direct.info('stats');
      const get = (name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(info)?.[1] ?? Number.NaN);
      return { commands: get('total_commands_processed'), reads: get('total_reads_processed') };
    }),
  );
}

/** What each node's counters rose by since `before`. */
async function countersSince(
  nodes: readonly RedisNode[],
  before: ReadonlyArray<{ commands: number; reads: number }>,
): Promise<Array<{ commands: number; reads: number }>> {
  return (await nodeCounters(nodes)).map((c, i) => ({
    commands: c.commands - before[i]!.commands,
    reads: c.reads - before[i]!.reads,
  }));
}

/** Waits until the apis' relays have published every accepted bid: that work belongs to the run. */
async function drained(backend: Backend): Promise<void> {
  await waitFor(async () => (await outboxDepth(backend.client, backend.keys)) === 0, {
    timeoutMs: 60_000,
    intervalMs: 25,
    what: `${backend.key} outbox to drain`,
  });
}

function itemOfPath(path: string): string {
  return decodeURIComponent(path.split('/')[4]!);
}

/** Notes the seqs one load was answered; returns how many. */
function record(backend: Backend, seqs: Record<string, number[]> | undefined): number {
  backend.seen.loads++;
  let n = 0;
  for (const [path, list] of Object.entries(seqs ?? {})) {
    const item = itemOfPath(path);
    const all = backend.seen.answered.get(item) ?? [];
    for (const s of list) all.push(s);
    backend.seen.answered.set(item, all);
    n += list.length;
  }
  return n;
}

/** Bids accepted per primary (port) in one run's seqs. */
function bidsPerShard(backend: Backend, seqs: Record<string, number[]> | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const [path, list] of Object.entries(seqs ?? {})) {
    const port = backend.shardOf.get(itemOfPath(path))!;
    out.set(port, (out.get(port) ?? 0) + list.length);
  }
  return out;
}

async function runOnce(backend: Backend, replicas: number, round: number): Promise<Run> {
  const apis = await Promise.all(
    Array.from({ length: replicas }, (_, i) =>
      startBenchApi(
        `api-${backend.key}-${i + 1}/${replicas}`,
        {
          ...backend.env,
          REDIS_PREFIX: backend.prefix,
          NATS_STREAM: backend.topology.stream,
          EVENT_PREFIX: backend.topology.prefix,
          AUTH_MODE: 'jwt',
          BID_STRATEGY: 'lua',
        },
        { fromSource: SETTINGS.fromSource },
      ),
    ),
  );
  try {
    if (backend.items.length === 0) await openItems(backend, apis[0]!);
    const load: LoadSpec = {
      url: apis.map((a) => a.url),
      connections: SETTINGS.connections,
      durationS: SETTINGS.runS,
      paths: backend.items.map(bidPath),
      cyclePaths: true,
      collectSeqs: true,
      tokens,
      users: [],
      // Each item has one bidder, who raises its own highest bid by a cent: every bid accepted.
      amount: { kind: 'per-path', startCents: 100 },
    };
    // Every api process is new: JIT, connections and the relay's first rounds before measuring.
    const warm = await generator.run({ ...load, durationS: SETTINGS.warmupS });
    record(backend, warm.seqs);
    await drained(backend);

    const pids: Record<string, number> = { generator: generator.pid };
    apis.forEach((a, i) => (pids[`api${i}`] = a.child.pid!));
    for (const n of backend.nodes) pids[`redis:${n.port}`] = n.pid;
    if (natsPid) pids.nats = natsPid;
    const countersBefore = await nodeCounters(backend.nodes);
    const machineBefore = machineCpuTicks();
    const m = await measureProcesses(generator, pids, load, () => drained(backend));
    const machineAfter = machineCpuTicks();
    const counters = await countersSince(backend.nodes, countersBefore);
    const collected = record(backend, m.result.seqs);
    const accepted = m.result.statuses['201'] ?? 0;
    if (collected !== accepted) throw new Error(`${accepted} answers 201 but ${collected} seqs read`);

    const perShard = bidsPerShard(backend, m.result.seqs);
    const cores = (us: number) => us / 1e6 / m.wallS;
    const perBid = (us: number, bids = accepted) => (bids > 0 ? us / bids : Number.NaN);
    const apiUs = apis.reduce((sum, _, i) => sum + m.cpuUs[`api${i}`]!, 0);
    const nodes: NodeFigures[] = backend.nodes.map((n, i) => {
      const cpuUs = m.cpuUs[`redis:${n.port}`]!;
      const bids = n.role === 'primary' ? (perShard.get(n.port) ?? 0) : 0;
      return {
        port: n.port,
        role: n.role,
        cpuUs,
        cores: cores(cpuUs),
        bids,
        usPerOwnBid: perBid(cpuUs, bids),
        commands: counters[i]!.commands,
        reads: counters[i]!.reads,
      };
    });
    const redisUs = nodes.reduce((sum, n) => sum + n.cpuUs, 0);
    const busiest = nodes.filter((n) => n.role === 'primary').reduce((a, b) => (b.cpuUs > a.cpuUs ? b : a));
    const shareOfBids = accepted > 0 ? busiest.bids / accepted : Number.NaN;
    const idle = round === 0 && SETTINGS.idleS > 0 ? await idleCpu(backend, pids) : undefined;
    const run: Run = {
      backend: backend.key,
      apiReplicas: replicas,
      round,
      seconds: m.result.seconds,
      answers: m.result.answers,
      accepted,
      acceptedPerS: accepted / m.result.seconds,
      statuses: m.result.statuses,
      errors: m.result.errors,
      timeouts: m.result.timeouts,
      apiUsPerBid: perBid(apiUs),
      apiCores: cores(apiUs),
      generatorCores: cores(m.cpuUs.generator!),
      natsUsPerBid: natsPid ? perBid(m.cpuUs.nats!) : Number.NaN,
      machineBusy: (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total),
      redisUsPerBid: perBid(redisUs),
      redisCores: cores(redisUs),
      commandsPerBid: perBid(counters.reduce((a, c) => a + c.commands, 0)),
      readsPerBid: perBid(counters.reduce((a, c) => a + c.reads, 0)),
      nodes,
      busiest: {
        port: busiest.port,
        cores: busiest.cores,
        usPerBid: perBid(busiest.cpuUs),
        usPerOwnBid: busiest.usPerOwnBid,
        shareOfBids,
      },
      // The busiest primary at one core busy, the bids spread as they were: 1 s / (its µs per
      // bid of the whole run).
      redisCeilingPerS: 1e6 / perBid(busiest.cpuUs),
      latency: latencySummary([m.result.histogram]),
      histogram: m.result.histogram,
      ...(idle ? { idle } : {}),
      check: await check(backend),
    };
    const c = run.check;
    const inFlight = backend.seen.loads * SETTINGS.connections;
    if (c.gaps || c.answerMismatch || c.unanswered < 0 || c.unanswered > inFlight)
      throw new Error(`${backend.key}: the run is broken, no figure of it: ${JSON.stringify(c)}`);
    return run;
  } finally {
    await Promise.all(apis.map((a) => a.stop()));
  }
}

/** The apis up and no load: their relays and closers polling, the Redis nodes serving them. */
async function idleCpu(backend: Backend, pids: Record<string, number>): Promise<Idle> {
  const names = Object.keys(pids).filter((n) => n !== 'generator' && n !== 'nats');
  const before = names.map((n) => processCpuMicros(pids[n]!));
  const countersBefore = await nodeCounters(backend.nodes);
  const t0 = performance.now();
  // The measurement window itself: nothing to wait for.
  await sleep(SETTINGS.idleS * 1000);
  const seconds = (performance.now() - t0) / 1000;
  const commands = (await countersSince(backend.nodes, countersBefore)).reduce((a, c) => a + c.commands, 0);
  const used = names.map((n, i) => processCpuMicros(pids[n]!) - before[i]!);
  const sum = (prefix: string) =>
    used.filter((_, i) => names[i]!.startsWith(prefix)).reduce((a, b) => a + b, 0) / 1e6 / seconds;
  return { seconds, apiCores: sum('api'), redisCores: sum('redis:'), redisCommandsPerS: commands / seconds };
}

/**
 * For every item: its bid.accepted events in JetStream carry exactly seqs 1..N, N being its seq
 * in Redis (the relay published each accepted bid once, none lost, none twice), and every seq
 * the bidders were answered is one of them, once. Reads the stream from where it last stopped.
 */
async function check(backend: Backend): Promise<Check> {
  const { seen } = backend;
  const consumer = await nc.jetstream().consumers.get(backend.topology.stream, {
    filterSubjects: subjects(backend.topology).allBidsAccepted,
    opt_start_seq: seen.streamSeq + 1,
  });
  for (;;) {
    const batch = await consumer.fetch({ max_messages: 1000, expires: 2000 });
    let read = 0;
    let pending = 0;
    for await (const m of batch) {
      const event = m.json<{ itemId: string; seq: number }>();
      const list = seen.stored.get(event.itemId) ?? [];
      list.push(event.seq);
      seen.stored.set(event.itemId, list);
      seen.streamSeq = m.seq;
      pending = m.info.pending;
      read++;
    }
    if (read === 0 || pending === 0) break;
  }
  const inRedis = await Promise.all(
    backend.items.map(async (item) =>
      Number((await backend.client.hget(backend.keys.item(item), 'seq')) ?? 0),
    ),
  );
  let gaps = 0;
  let answerMismatch = 0;
  let accepted = 0;
  let answered = 0;
  backend.items.forEach((item, i) => {
    const n = inRedis[i]!;
    accepted += n;
    const stored = seen.stored.get(item) ?? [];
    const sorted = [...stored].sort((a, b) => a - b);
    if (sorted.length !== n || !sorted.every((seq, k) => seq === k + 1)) gaps++;
    const answers = seen.answered.get(item) ?? [];
    answered += answers.length;
    if (new Set(answers).size !== answers.length || answers.some((seq) => !(seq >= 1 && seq <= n)))
      answerMismatch++;
  });
  return {
    items: backend.items.length,
    accepted,
    answered,
    unanswered: accepted - answered,
    gaps,
    answerMismatch,
  };
}

/**
 * Fan-out benchmark: the broadcast service (Socket.IO and /ws watchers of one item, on one replica
 * or spread over three) beside a raw `ws` broadcaster (raw-ws-broadcaster.ts) with as many clients,
 * in interleaved rounds: R bids/s for S seconds to N watchers. Reports the servers' CPU
 * (utime+stime from /proc, every replica summed) per delivery and its ratio to the raw one, bid
 * published → received latency (HdrHistogram, from the intended publish time), and RSS per idle
 * connection at IDLE connections, each in a fresh process.
 *
 * The watchers run in a process of their own (watchers-process.ts); this one publishes the bids to
 * JetStream at a constant rate and reads /proc.
 *
 *   npm run bench -w services/broadcast                 full run (about 10 minutes)
 *   GAVEL_BENCH_SETTINGS='{"scenarios":["500x20x1"],"seconds":5}' npm run bench -w services/broadcast
 *
 * A scenario is WATCHERSxBIDS_PER_SxREPLICAS. Reports go to docs/results/broadcast-fanout.{md,json,svg}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { encodeEvent, makeEvent, subjectOf, subjects } from '@gavel/shared';
import {
  REPO_ROOT,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  benchProgress,
  benchResultsDir,
  benchSettings,
  deleteRedisKeys,
  dropTopology,
  freePort,
  spawnService,
  testTopology,
  uniqueId,
  type ServiceProcess,
  latencySummary,
  median,
} from '@gavel/shared/testing';
import type { WatcherCommand, WatcherReply } from './watchers-protocol.js';

const SETTINGS = benchSettings({
  scenarios: ['500x20x1', '2000x50x1', '2000x50x3'],
  transports: ['socketio', 'ws'],
  rounds: 2,
  seconds: 8,
  warmupS: 2,
  /** Idle connections for the memory figures (each transport in a fresh process); 0: none. */
  idle: 2000,
});

interface Scenario {
  readonly watchers: number;
  readonly rate: number;
  readonly replicas: number;
}
const scenarios: Scenario[] = SETTINGS.scenarios.map((s) => {
  const [watchers, rate, replicas] = s.split('x').map(Number);
  if (!watchers || !rate || !replicas) throw new Error(`bad scenario ${s}: WATCHERSxRATExREPLICAS`);
  return { watchers, rate, replicas };
});
const REPLICAS = Math.max(...scenarios.map((s) => s.replicas));
type System = 'raw' | 'socketio' | 'ws';
const SYSTEMS: System[] = ['raw', ...(SETTINGS.transports as System[])];
const LABEL: Record<System, string> = {
  raw: 'raw ws broadcaster (baseline)',
  socketio: 'broadcast, Socket.IO',
  ws: 'broadcast, /ws',
};

const topology = testTopology();
const redisPrefix = `${uniqueId('fanout')}:`;
const env = {
  REDIS_URL: TEST_REDIS_URL,
  NATS_URL: TEST_NATS_URL,
  REDIS_PREFIX: redisPrefix,
  NATS_STREAM: topology.stream,
  EVENT_PREFIX: topology.prefix,
  AUTH_MODE: 'open',
  LOG_LEVEL: 'warn',
  HOST: '127.0.0.1',
  // Watchers send one event each; the per-connection limits are not what is measured.
  EVENT_RATE_PER_S: '1000',
  // Every watcher connects from 127.0.0.1.
  MAX_CONNECTIONS_PER_ADDRESS: '1000000',
  // The memory lines reuse user ids, and a killed server's counts stay in Redis until its
  // heartbeat lapses: the per-user cap is not what is measured either.
  MAX_CONNECTIONS_PER_USER: '1000000',
};
const RAW_ITEM = 'raw_item';
const progress = benchProgress(1 + scenarios.length * (1 + SYSTEMS.length * SETTINGS.rounds));
const nowMs = () => performance.timeOrigin + performance.now();

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}
const TICKS = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) / TICKS) * 1e6;
}

/** The watchers process: commands out, each reply awaited by its group and type. */
class Watchers {
  private readonly waiting = new Map<
    string,
    { resolve: (r: WatcherReply) => void; reject: (e: Error) => void }
  >();
  private constructor(private readonly child: ChildProcess) {
    child.on('message', (r: WatcherReply) => {
      if (r.type === 'failed') {
        for (const [key, w] of this.waiting)
          if (key.startsWith(`${r.group}:`)) {
            this.waiting.delete(key);
            w.reject(new Error(r.error));
          }
        return;
      }
      const key = `${r.group}:${r.type}`;
      const w = this.waiting.get(key);
      this.waiting.delete(key);
      w?.resolve(r);
    });
    child.once('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`watchers exited with ${code}`));
    });
  }

  static async start(): Promise<Watchers> {
    const child = fork(fileURLToPath(new URL('./watchers-process.ts', import.meta.url)), [], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      stdio: 'inherit',
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`watchers exited with ${code}`)));
    });
    return new Watchers(child);
  }

  /** The next reply of `type` for `group`. Register before sending the command that causes it. */
  next<T extends WatcherReply['type']>(group: string, type: T): Promise<Extract<WatcherReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.waiting.set(`${group}:${type}`, {
        resolve: (r) => resolve(r as Extract<WatcherReply, { type: T }>),
        reject,
      });
    });
  }

  send(c: WatcherCommand): void {
    this.child.send(c);
  }

  async connect(c: Extract<WatcherCommand, { type: 'connect' }>): Promise<void> {
    const done = this.next(c.group, 'connected');
    this.send(c);
    await done;
  }

  async close(group: string): Promise<void> {
    const done = this.next(group, 'closed');
    this.send({ type: 'close', group });
    await done;
  }

  stop(): void {
    this.child.disconnect();
  }
}

interface Run {
  readonly system: System;
  readonly round: number;
  readonly bids: number;
  readonly deliveries: number;
  readonly expected: number;
  readonly outOfOrder: number;
  readonly serverCpuUs: number;
  readonly cpuUsPerDelivery: number;
  readonly histogram: string;
}

const nc = await connect({ servers: TEST_NATS_URL, name: 'fanout-bench' });
const js = nc.jetstream();
const nextSeq = new Map<string, number>();

/** Publishes bids firstSeq.. on `itemId`, bid i at startMs + i / rate (its intended time). */
async function publishBids(itemId: string, count: number, rate: number, startMs: number, firstSeq: number) {
  const intervalMs = 1000 / rate;
  const acks: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    const wait = startMs + i * intervalMs - nowMs();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const seq = firstSeq + i;
    const e = makeEvent('bid.accepted', { itemId, seq, userId: 'bencher', amountCents: 100 + seq });
    acks.push(js.publish(subjectOf(e, topology), encodeEvent(e), { msgID: e.id }));
  }
  await Promise.all(acks);
}

/** One measured run: the watchers expect the bids, they are published, every delivery awaited. */
async function measure(
  watchers: Watchers,
  group: string,
  itemId: string,
  pids: readonly number[],
  rate: number,
  seconds: number,
): Promise<Omit<Run, 'system' | 'round'>> {
  const count = Math.max(1, Math.round(rate * seconds));
  const firstSeq = nextSeq.get(itemId) ?? 1;
  nextSeq.set(itemId, firstSeq + count);
  const startMs = nowMs() + 300;
  const expecting = watchers.next(group, 'expecting');
  const received = watchers.next(group, 'received');
  watchers.send({
    type: 'expect',
    group,
    firstSeq,
    lastSeq: firstSeq + count - 1,
    startMs,
    intervalMs: 1000 / rate,
    graceMs: 20_000,
  });
  await expecting;
  const cpu0 = pids.reduce((a, p) => a + cpuUs(p), 0);
  await publishBids(itemId, count, rate, startMs, firstSeq);
  const r = await received;
  const cpu = pids.reduce((a, p) => a + cpuUs(p), 0) - cpu0;
  return {
    bids: count,
    deliveries: r.deliveries,
    expected: r.expected,
    outOfOrder: r.outOfOrder,
    serverCpuUs: cpu,
    cpuUsPerDelivery: cpu / Math.max(1, r.deliveries),
    histogram: r.histogram,
  };
}

/** Servers run with a full GC on SIGUSR2, for the memory figures (bench/gc-on-signal.mjs). */
const GC_ON_SIGNAL = `--expose-gc --import=${fileURLToPath(new URL('./gc-on-signal.mjs', import.meta.url))}`;

async function startBroadcast(): Promise<ServiceProcess> {
  const port = await freePort();
  return spawnService(
    'services/broadcast/src/main.ts',
    { ...env, PORT: String(port), NODE_OPTIONS: GC_ON_SIGNAL },
    { port, timeoutMs: 120_000 },
  );
}

async function startRaw(): Promise<ServiceProcess> {
  const port = await freePort();
  return spawnService(
    'services/broadcast/bench/raw-ws-broadcaster.ts',
    {
      ...env,
      PORT: String(port),
      SUBJECT: subjects(topology).bidAccepted(RAW_ITEM),
      NODE_OPTIONS: GC_ON_SIGNAL,
    },
    { port, timeoutMs: 120_000 },
  );
}

interface MemoryFigure {
  readonly system: System;
  readonly connections: number;
  /** Distinct users among them: a user's first connection also opens their session (DM feed). */
  readonly users: number;
  readonly rssBeforeKiB: number;
  readonly rssAfterKiB: number;
  readonly perConnectionKiB: number;
}

/**
 * RSS per idle connection: a fresh server for each line, IDLE connections, then a settle. The
 * broadcast lines twice: one user per connection (each opens its user's session: the DM feed
 * subscription), and ten connections per user (the connection alone).
 */
async function measureMemory(watchers: Watchers): Promise<MemoryFigure[]> {
  const lines = SYSTEMS.flatMap((system): Array<{ system: System; users: number }> =>
    system === 'raw'
      ? [{ system, users: SETTINGS.idle }]
      : [
          { system, users: SETTINGS.idle },
          { system, users: Math.max(1, Math.round(SETTINGS.idle / 10)) },
        ],
  );
  const half = Math.floor(SETTINGS.idle / 2);
  const out: MemoryFigure[] = [];
  for (const [i, line] of lines.entries()) {
    const server = line.system === 'raw' ? await startRaw() : await startBroadcast();
    try {
      const pid = server.child.pid!;
      const settled = async () => {
        process.kill(pid, 'SIGUSR2');
        await new Promise((r) => setTimeout(r, 2000));
        return rssKiB(pid);
      };
      const connect = (part: number, count: number) =>
        watchers.connect({
          type: 'connect',
          group: `idle-${i}-${part}`,
          kind: line.system,
          urls: [server.url],
          count,
          users: Math.max(1, Math.round((count * line.users) / SETTINGS.idle)),
          userOffset: part * SETTINGS.idle,
        });
      // The slope between half and all of the connections: the first ones also pay for code
      // compiled on first use and buffers allocated once.
      await connect(0, half);
      const before = await settled();
      await connect(1, SETTINGS.idle - half);
      const after = await settled();
      const perConnectionKiB = +((after - before) / (SETTINGS.idle - half)).toFixed(2);
      out.push({
        ...line,
        connections: SETTINGS.idle,
        rssBeforeKiB: before,
        rssAfterKiB: after,
        perConnectionKiB,
      });
      process.stderr.write(
        `memory ${line.system}, ${line.users} users: ${perConnectionKiB} KiB per idle connection\n`,
      );
      await watchers.close(`idle-${i}-0`);
      await watchers.close(`idle-${i}-1`);
    } finally {
      await server.kill('SIGKILL');
    }
  }
  return out;
}

interface ScenarioResult extends Scenario {
  readonly runs: Run[];
  readonly summary: Array<{
    system: System;
    label: string;
    cpuUsPerDelivery: number;
    ratioToRaw: number;
    deliveries: number;
    expected: number;
    outOfOrder: number;
    latencyMs: ReturnType<typeof latencySummary>;
  }>;
}

const started = new Date().toISOString();
const loadBefore = loadavg().map((n) => n.toFixed(2));
const watchers = await Watchers.start();
const results: ScenarioResult[] = [];
let memory: MemoryFigure[] = [];
const replicas: ServiceProcess[] = [];
let raw: ServiceProcess | undefined;
try {
  // idle: 0 skips the memory figures (a smoke run).
  if (SETTINGS.idle > 0) memory = await measureMemory(watchers);
  progress.step('memory');
  replicas.push(...(await Promise.all(Array.from({ length: REPLICAS }, () => startBroadcast()))));
  for (const [index, sc] of scenarios.entries()) {
    // A fresh baseline per scenario: a raw broadcaster that fell behind (it buffers without
    // bound) would still be writing the last scenario's backlog.
    await raw?.kill('SIGKILL');
    raw = await startRaw();
    const used = replicas.slice(0, sc.replicas);
    const items: Record<System, string> = {
      raw: RAW_ITEM,
      socketio: `fan${index}_sio`,
      ws: `fan${index}_ws`,
    };
    const pids: Record<System, number[]> = {
      raw: [raw.child.pid!],
      socketio: used.map((r) => r.child.pid!),
      ws: used.map((r) => r.child.pid!),
    };
    const group = (system: System) => `s${index}-${system}`;
    for (const system of SYSTEMS) {
      await watchers.connect({
        type: 'connect',
        group: group(system),
        kind: system,
        urls: system === 'raw' ? [raw.url] : used.map((r) => r.url),
        count: sc.watchers,
        userOffset: 0,
        itemId: items[system],
      });
    }
    process.stderr.write(
      `${sc.watchers} watchers × ${sc.rate} bids/s, ${sc.replicas} replica(s): connected\n`,
    );
    // Warm-up, not counted: JIT, first-use allocations, TCP windows.
    for (const system of SYSTEMS)
      await measure(watchers, group(system), items[system], pids[system], sc.rate, SETTINGS.warmupS);
    progress.step(`${sc.watchers}x${sc.rate}x${sc.replicas} warm-up`);
    const runs: Run[] = [];
    for (let round = 0; round < SETTINGS.rounds; round++) {
      // The order rotates each round, so that no system always follows the same one.
      for (let k = 0; k < SYSTEMS.length; k++) {
        const system = SYSTEMS[(k + round) % SYSTEMS.length]!;
        const m = await measure(
          watchers,
          group(system),
          items[system],
          pids[system],
          sc.rate,
          SETTINGS.seconds,
        );
        runs.push({ system, round, ...m });
        process.stderr.write(
          `  ${LABEL[system].padEnd(30)} round ${round + 1}: ${m.deliveries}/${m.expected} delivered, ` +
            `${m.cpuUsPerDelivery.toFixed(2)} µs CPU/delivery, p99 ${latencySummary([m.histogram]).p99} ms\n`,
        );
        progress.step(`${sc.watchers}x${sc.rate}x${sc.replicas} ${system} round ${round + 1}`);
      }
    }
    for (const system of SYSTEMS) await watchers.close(group(system));
    const rawCpu = median(runs.filter((r) => r.system === 'raw').map((r) => r.cpuUsPerDelivery));
    results.push({
      ...sc,
      runs,
      summary: SYSTEMS.map((system) => {
        const rs = runs.filter((r) => r.system === system);
        const cpu = median(rs.map((r) => r.cpuUsPerDelivery));
        return {
          system,
          label: LABEL[system],
          cpuUsPerDelivery: +cpu.toFixed(3),
          ratioToRaw: +(cpu / rawCpu).toFixed(2),
          deliveries: rs.reduce((a, r) => a + r.deliveries, 0),
          expected: rs.reduce((a, r) => a + r.expected, 0),
          outOfOrder: rs.reduce((a, r) => a + r.outOfOrder, 0),
          latencyMs: latencySummary(rs.map((r) => r.histogram)),
        };
      }),
    });
  }
} finally {
  watchers.stop();
  await Promise.all(replicas.map((r) => r.kill('SIGKILL')));
  await raw?.kill('SIGKILL');
  await nc.close();
  await dropTopology(topology).catch(() => undefined);
  await deleteRedisKeys(redisPrefix).catch(() => undefined);
}

const sh = (cmd: string) => {
  try {
    return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
};
const report = {
  started,
  machine: {
    cpu: sh("lscpu | sed -n 's/^Model name: *//p'") || (cpus()[0]?.model ?? '?'),
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    nats: sh('nats-server --version'),
    loadAverage: { before: loadBefore, after: loadavg().map((n) => n.toFixed(2)) },
    note: process.env.BENCH_MACHINE_NOTE ?? 'not stated (set BENCH_MACHINE_NOTE)',
  },
  settings: SETTINGS,
  memory,
  scenarios: results,
};
const outDir = benchResultsDir(REPO_ROOT);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'broadcast-fanout.json'), `${JSON.stringify(report, null, 2)}\n`);
const md = markdown(report);
writeFileSync(join(outDir, 'broadcast-fanout.md'), md);
process.stdout.write(md);

function markdown(r: typeof report): string {
  const m = r.machine;
  const memRaw = r.memory.find((x) => x.system === 'raw')?.perConnectionKiB ?? NaN;
  const memRows = r.memory
    .map(
      (x) =>
        `| ${LABEL[x.system]} | ${x.connections} | ${x.users} | ${x.rssBeforeKiB} | ${x.rssAfterKiB} | **${x.perConnectionKiB}** | ${(x.perConnectionKiB / memRaw).toFixed(2)} |`,
    )
    .join('\n');
  const scenarioSections = r.scenarios.map((sc) => {
    const rows = sc.summary
      .map(
        (x) =>
          `| ${x.label} | **${x.cpuUsPerDelivery}** | **${x.ratioToRaw}** | ${sc.runs
            .filter((run) => run.system === x.system)
            .map((run) => run.cpuUsPerDelivery.toFixed(2))
            .join(
              ' / ',
            )} | ${x.latencyMs.p50} | ${x.latencyMs.p90} | ${x.latencyMs.p99} | ${x.latencyMs.p99_9} | ${x.latencyMs.max} | ${x.deliveries}/${x.expected} | ${x.outOfOrder} |`,
      )
      .join('\n');
    return `### ${sc.watchers} watchers × ${sc.rate} bids/s, broadcast on ${sc.replicas} replica${sc.replicas > 1 ? 's' : ''}

| server | CPU µs/delivery (median) | × raw ws | each round | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | delivered | out of order |
|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|
${rows}
`;
  });
  return `# Broadcast fan-out

Measured ${r.started} by \`npm run bench -w services/broadcast\` (services/broadcast/bench/fanout.ts). Raw
figures: broadcast-fanout.json.

**Method.** N watchers of one item, R bids/s published to JetStream for ${r.settings.seconds} s per run, ${r.settings.rounds}
rounds after a ${r.settings.warmupS} s warm-up, the systems' order rotating each round. The watchers run in a
process of their own (bench/watchers-process.ts: thin \`ws\` clients speaking each server's protocol); this
process publishes. **CPU per delivery** is utime+stime of the server processes (/proc/<pid>/stat; every
replica in use summed) over the run, divided by the bids delivered. **Latency** runs from each bid's
intended publish time (coordinated-omission safe) to its arrival at a watcher, every delivery of every round,
through HdrHistogram (hdr-histogram-js). "Out of order" counts deliveries that were not the watcher's
previous seq + 1.

The baseline (bench/raw-ws-broadcaster.ts) subscribes to the bid subject on core NATS and \`ws.send\`s the
same JSON to every client: no ordering, replay, rooms, auth or Socket.IO framing. The broadcast service
subscribes by interest to the stream's republished events, puts them in seq order in the item's feed, and
writes each event's prebuilt WebSocket frame (for Socket.IO, the encoded packet framed once) to every
watcher's socket, the events of one burst in one write.

## CPU per delivery and latency

${scenarioSections.join('\n')}
## Memory per idle connection

A fresh server per line; ${r.settings.idle} idle connections (connected, watching nothing) in two halves; RSS
(/proc/<pid>/status VmRSS, each read 2 s after a full GC) after the first half and after the second: the
figure is the slope, so code compiled and buffers allocated on first use are left out. With one user per connection, each connection also
opens its user's session (the user's DM feed, a core NATS subscription);
with ten connections per user, the figure is the connection's own.

| server | connections | users | RSS at half KiB | RSS at all KiB | KiB per connection | × raw ws |
|---|---:|---:|---:|---:|---:|---:|
${memRows}

## Machine

${m.cores} vCPU ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.nats}; watchers, publisher and servers on the same
cores. Load average (1/5/15 min) before: ${m.loadAverage.before.join(' ')}; after: ${m.loadAverage.after.join(' ')}.
What else ran: ${m.note}. Latency moves with the machine's load; CPU per delivery and its ratio much less.
`;
}

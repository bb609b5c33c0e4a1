/**
 * Fan-out benchmark: one broadcast process, N Socket.IO watchers of one item, R bids/s for S
 * seconds; then a raw `ws` broadcaster with the same N clients and the same bids, in the same
 * run. Reports bid published -> received latency, deliveries/s and RSS per connection for both.
 *
 *   ulimit -n 20000   # 2 sockets per client on this machine
 *   npm run bench -w services/broadcast        # takes the /tmp/bench.lock flock
 *   BENCH_CLIENTS=2000 BENCH_RATE=50 BENCH_SECONDS=20 to change the load.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { io as ioClient, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { makeEvent, encodeEvent, subjectOf, subjects } from '@gavel/shared';
import {
  REPO_ROOT,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  dropTopology,
  freePort,
  spawnService,
  testTopology,
  uniqueId,
  type ServiceProcess,
} from '@gavel/shared/testing';
import { connect } from 'nats';
import { Redis } from 'ioredis';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2000);
const RATE = Number(process.env.BENCH_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const ITEM = 'bench_item';

const topology = testTopology();
const redisPrefix = `${uniqueId('bench')}:`;
const nc = await connect({ servers: TEST_NATS_URL });
const js = nc.jetstream();

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

interface Result {
  system: string;
  clients: number;
  bids: number;
  deliveries: number;
  expected: number;
  deliveriesPerS: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  rssPerConnectionKb: number;
  serverCpuS: number;
}

/** Publishes bids at a constant rate; `sentAt[seq]` is the intended send time. */
async function runLoad(
  system: string,
  server: ServiceProcess,
  firstSeq: number,
  onReady: (record: (seq: number) => void) => Promise<void>,
): Promise<Result> {
  const pid = server.child.pid!;
  const idleRss = rssKb(pid);
  const sentAt = new Float64Array(firstSeq + RATE * SECONDS + 10);
  const latencies: number[] = [];
  let deliveries = 0;
  const record = (seq: number) => {
    deliveries++;
    latencies.push(performance.now() - sentAt[seq]!);
  };
  await onReady(record);
  await new Promise((r) => setTimeout(r, 1000));
  const loadedRss = rssKb(pid);
  const cpu0 = cpuSeconds(pid);
  const total = RATE * SECONDS;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const seq = firstSeq + i;
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sentAt[seq] = due; // coordinated-omission safe: from the intended send time
    const e = makeEvent('bid.accepted', { itemId: ITEM, seq, userId: 'bencher', amountCents: 100 + seq });
    void js.publish(subjectOf(e, topology), encodeEvent(e), { msgID: e.id });
  }
  const expected = total * CLIENTS;
  const deadline = performance.now() + 20_000;
  while (deliveries < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const elapsed = (performance.now() - start) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    system,
    clients: CLIENTS,
    bids: total,
    deliveries,
    expected,
    deliveriesPerS: Math.round(deliveries / elapsed),
    latencyMs: {
      p50: +percentile(sorted, 0.5).toFixed(2),
      p90: +percentile(sorted, 0.9).toFixed(2),
      p99: +percentile(sorted, 0.99).toFixed(2),
      p999: +percentile(sorted, 0.999).toFixed(2),
      max: +(sorted[sorted.length - 1] ?? NaN).toFixed(2),
    },
    rssPerConnectionKb: +((loadedRss - idleRss) / CLIENTS).toFixed(1),
    serverCpuS: +(cpuSeconds(pid) - cpu0).toFixed(1),
  };
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function inBatches<T>(n: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += 100) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, j) => make(i + j)))));
  }
  return out;
}

const results: Result[] = [];
const env = {
  REDIS_URL: TEST_REDIS_URL,
  NATS_URL: TEST_NATS_URL,
  REDIS_PREFIX: redisPrefix,
  NATS_STREAM: topology.stream,
  EVENT_PREFIX: topology.prefix,
  AUTH_MODE: 'open',
  LOG_LEVEL: 'warn',
  EVENT_RATE_PER_S: '1000',
};
try {
  // 1. The broadcast service.
  const port = await freePort();
  const broadcast = await spawnService(
    'services/broadcast/src/main.ts',
    { ...env, PORT: String(port), HOST: '127.0.0.1' },
    { port, timeoutMs: 60_000 },
  );
  let sockets: Socket[] = [];
  try {
    results.push(
      await runLoad('broadcast (Socket.IO)', broadcast, 1, async (record) => {
        sockets = await inBatches(CLIENTS, async (i) => {
          const s = ioClient(broadcast.url, {
            transports: ['websocket'],
            auth: { userId: `u${i}` },
            reconnection: false,
            forceNew: true,
          });
          s.on('bid', (b: { seq: number }) => record(b.seq));
          await new Promise<void>((r, j) => (s.once('connect', () => r()), s.once('connect_error', j)));
          await s.timeout(30_000).emitWithAck('item:watch', { itemId: ITEM });
          return s;
        });
        console.log(`broadcast: ${sockets.length} Socket.IO watchers connected`);
      }),
    );
  } finally {
    for (const s of sockets) s.close();
    await broadcast.kill('SIGKILL');
  }

  // 2. The raw ws baseline, same clients, same payloads, next bids.
  const rawPort = await freePort();
  const raw = await spawnService(
    'services/broadcast/bench/raw-ws-broadcaster.ts',
    { ...env, PORT: String(rawPort), SUBJECT: subjects(topology).bidAccepted(ITEM) },
    { port: rawPort, timeoutMs: 60_000 },
  );
  let wsClients: WebSocket[] = [];
  try {
    results.push(
      await runLoad('raw ws', raw, 1 + RATE * SECONDS, async (record) => {
        wsClients = await inBatches(CLIENTS, async () => {
          const ws = new WebSocket(`ws://127.0.0.1:${rawPort}/ws`, { perMessageDeflate: false });
          ws.on('message', (d) => record((JSON.parse(String(d)) as { seq: number }).seq));
          await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
          return ws;
        });
        console.log(`raw ws: ${wsClients.length} clients connected`);
      }),
    );
  } finally {
    for (const ws of wsClients) ws.terminate();
    await raw.kill('SIGKILL');
  }
} finally {
  await nc.close();
  await dropTopology(topology);
  const redis = new Redis(TEST_REDIS_URL);
  const keys = await redis.keys(`${redisPrefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
}

const [sio, raw] = results as [Result, Result];
const machine = {
  nproc: cpus().length,
  cpu: execSync("lscpu | grep 'Model name' | sed 's/.*: *//'").toString().trim(),
  node: process.version,
  note: `the load generator ran on the same 2 cores as the server; ${process.env.BENCH_MACHINE_NOTE ?? 'other work on the machine not stated (set BENCH_MACHINE_NOTE)'}`,
};
const ratios = {
  p50: +(sio.latencyMs.p50 / raw.latencyMs.p50).toFixed(2),
  p99: +(sio.latencyMs.p99 / raw.latencyMs.p99).toFixed(2),
  rssPerConnection: +(sio.rssPerConnectionKb / raw.rssPerConnectionKb).toFixed(2),
  serverCpu: +(sio.serverCpuS / raw.serverCpuS).toFixed(2),
};
const outDir = resolve(REPO_ROOT, 'docs/results');
mkdirSync(outDir, { recursive: true });
writeFileSync(
  resolve(outDir, 'broadcast-fanout.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine, config: { CLIENTS, RATE, SECONDS }, results, ratios }, null, 2)}\n`,
);
const row = (r: Result) =>
  `| ${r.system} | ${r.deliveries}/${r.expected} | ${r.deliveriesPerS} | ${r.latencyMs.p50} | ${r.latencyMs.p90} | ${r.latencyMs.p99} | ${r.latencyMs.p999} | ${r.latencyMs.max} | ${r.rssPerConnectionKb} | ${r.serverCpuS} |`;
const md = `# Broadcast fan-out

${CLIENTS} watchers of one item, ${RATE} bids/s for ${SECONDS} s (${RATE * SECONDS} bids), latency from the
intended publish time of the bid (JetStream publish) to its arrival at a client. Run
\`npm run bench -w services/broadcast\`; raw numbers in \`broadcast-fanout.json\`.

| system | delivered | deliveries/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | RSS/conn KiB | server CPU s |
|---|---|---|---|---|---|---|---|---|---|
${row(sio)}
${row(raw)}

Ratios broadcast / raw ws: p50 ×${ratios.p50}, p99 ×${ratios.p99}, RSS per connection ×${ratios.rssPerConnection}, server CPU ×${ratios.serverCpu}.

The raw baseline subscribes to the bid subject on core NATS and writes one pre-serialised frame to
every socket: no seq ordering, replay, rooms, auth or Socket.IO framing. The broadcast service goes
through its JetStream ordered consumer and per-item feed, and Socket.IO encodes per packet.

Machine: ${machine.nproc} vCPU ${machine.cpu}, Node ${machine.node}; ${machine.note}. The
${CLIENTS} clients ran in the benchmark process on the same cores, so absolute numbers include
client-side parsing; the ratio is the figure to compare.
`;
writeFileSync(resolve(outDir, 'broadcast-fanout.md'), md);
console.log(md);

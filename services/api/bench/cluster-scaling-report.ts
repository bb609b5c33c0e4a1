/**
 * The Redis Cluster scaling report (cluster-scaling.ts measures, this reads): the figures of
 * one run, their medians per scenario, and the Markdown with the reading written from them.
 */
import { CLUSTER_PARTITIONS } from '../src/redis-keys.js';
import type { BenchMachine } from './bench-api.js';
import { latencySummary, median } from './harness.js';

export type BackendKey = 'single' | 'cluster';

/** What a report needs to know of how the runs were made. */
export interface ScalingSettings {
  readonly rounds: number;
  readonly runS: number;
  readonly warmupS: number;
  readonly idleS: number;
  readonly items: number;
  readonly connections: number;
  readonly primaries: number;
  readonly replicasPerPrimary: number;
}

/** A backend as the report shows it. */
export interface BackendDescription {
  readonly label: string;
  readonly nodes: ReadonlyArray<{ port: number; role: 'primary' | 'replica' }>;
  readonly items: number;
  /** Items whose keys each primary (port) serves. */
  readonly itemsPerPrimary: Record<string, number>;
  readonly partitions: number;
}

export interface ScalingReport {
  readonly started: string;
  readonly finished: string;
  readonly quick: boolean;
  readonly machine: BenchMachine;
  /** The run's settings (the report reads these; the JSON has them all). */
  readonly settings: ScalingSettings & Record<string, unknown>;
  readonly authMode: 'jwt' | 'open';
  readonly backends: Record<string, BackendDescription>;
  readonly summary: Summary[];
  readonly runs: Run[];
}

export interface NodeFigures {
  readonly port: number;
  readonly role: 'primary' | 'replica';
  readonly cpuUs: number;
  readonly cores: number;
  /** Accepted bids on the items this node serves (primaries). */
  readonly bids: number;
  /** Its CPU per bid on its own items, µs (primaries). */
  readonly usPerOwnBid: number;
  readonly commands: number;
  /** Socket reads it processed (INFO total_reads_processed): fewer per command = larger batches. */
  readonly reads: number;
}

export interface Check {
  readonly items: number;
  /** Bids accepted so far on this backend (the items' seqs in Redis; warm-ups included). */
  readonly accepted: number;
  /** Of those, answered 201 to the load generator. */
  readonly answered: number;
  /**
   * Accepted but never seen answered: a request in flight when a run's time was up (autocannon
   * drops it). At most one per connection per load.
   */
  readonly unanswered: number;
  /** Items whose bid.accepted events in JetStream are not exactly seqs 1..N, N its seq in Redis. */
  readonly gaps: number;
  /** Items with an answered seq twice, or one JetStream does not hold. */
  readonly answerMismatch: number;
}

export interface Run {
  readonly backend: BackendKey;
  readonly apiReplicas: number;
  readonly round: number;
  readonly seconds: number;
  readonly answers: number;
  readonly accepted: number;
  readonly acceptedPerS: number;
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly timeouts: number;
  readonly apiUsPerBid: number;
  readonly apiCores: number;
  readonly generatorCores: number;
  /** The shared nats-server's CPU per bid (other users' traffic included: an upper bound). */
  readonly natsUsPerBid: number;
  /** Share of all the machine's cores busy during the run (anything, other users included). */
  readonly machineBusy: number;
  readonly redisUsPerBid: number;
  readonly redisCores: number;
  readonly commandsPerBid: number;
  /** Socket reads all nodes processed per bid: what auto-pipelining saves shows here. */
  readonly readsPerBid: number;
  readonly nodes: readonly NodeFigures[];
  readonly busiest: {
    readonly port: number;
    readonly cores: number;
    /** Its CPU over every accepted bid of the run, µs. */
    readonly usPerBid: number;
    readonly usPerOwnBid: number;
    readonly shareOfBids: number;
  };
  /** Accepted bids/s at which the busiest primary would be one core busy, at this spread. */
  readonly redisCeilingPerS: number;
  readonly latency: ReturnType<typeof latencySummary>;
  readonly histogram: string;
  readonly idle?: Idle;
  readonly check: Check;
}

export interface Idle {
  readonly seconds: number;
  readonly apiCores: number;
  readonly redisCores: number;
  readonly redisCommandsPerS: number;
}

export function summarize(backend: BackendKey, apiReplicas: number, runs: readonly Run[]) {
  const med = (f: (r: Run) => number) => median(runs.map(f));
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const idle = runs.find((r) => r.idle)?.idle;
  return {
    backend,
    apiReplicas,
    runs: runs.length,
    acceptedPerS: med((r) => r.acceptedPerS),
    acceptedPerSEach: runs.map((r) => r.acceptedPerS),
    apiUsPerBid: med((r) => r.apiUsPerBid),
    apiCores: med((r) => r.apiCores),
    generatorCores: med((r) => r.generatorCores),
    natsUsPerBid: med((r) => r.natsUsPerBid),
    machineBusy: med((r) => r.machineBusy),
    redisUsPerBid: med((r) => r.redisUsPerBid),
    redisCores: med((r) => r.redisCores),
    busiestUsPerBid: med((r) => r.busiest.usPerBid),
    busiestUsPerOwnBid: med((r) => r.busiest.usPerOwnBid),
    busiestCores: med((r) => r.busiest.cores),
    busiestShareOfBids: med((r) => r.busiest.shareOfBids),
    primaryUsPerOwnBid: med((r) =>
      median(r.nodes.filter((n) => n.role === 'primary').map((n) => n.usPerOwnBid)),
    ),
    commandsPerBid: med((r) => r.commandsPerBid),
    readsPerBid: med((r) => r.readsPerBid),
    redisCeilingPerS: med((r) => r.redisCeilingPerS),
    latency: latencySummary(runs.map((r) => r.histogram)),
    statuses,
    errors: runs.reduce((a, r) => a + r.errors + r.timeouts, 0),
    notAccepted: runs.reduce((a, r) => a + r.answers - r.accepted, 0),
    gaps: runs.reduce((a, r) => a + r.check.gaps + r.check.answerMismatch, 0),
    idle,
  };
}

export type Summary = ReturnType<typeof summarize>;

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function pct(n: number): string {
  return Number.isFinite(n) ? `${Math.round(n * 100)}%` : 'n/a';
}

export function reportMarkdown(report: ScalingReport, notes: string): string {
  const m = report.machine;
  const settings = report.settings;
  const label = (s: { backend: BackendKey; apiReplicas: number }) =>
    `${report.backends[s.backend]!.label}, ${s.apiReplicas} api`;
  const mainRows = report.summary.map(
    (s) =>
      `| ${label(s)} | **${fmt(s.acceptedPerS)}** | ${s.acceptedPerSEach.map((v) => fmt(v)).join(' / ')} | ${fmt(s.apiUsPerBid)} | ${fmt(s.apiCores, 2)} | **${fmt(s.redisUsPerBid, 1)}** | ${fmt(s.busiestUsPerBid, 1)} | ${fmt(s.busiestUsPerOwnBid, 1)} | ${fmt(s.redisCores, 2)} / ${fmt(s.busiestCores, 2)} | ${fmt(s.commandsPerBid, 2)} / ${fmt(s.readsPerBid, 2)} | ${fmt(s.natsUsPerBid)} | ${fmt(s.generatorCores, 2)} | ${pct(s.machineBusy)} | ${s.latency.p50} | ${s.latency.p99} | ${s.errors} / ${s.notAccepted} | ${s.gaps} |`,
  );
  const cluster = report.backends.cluster!;
  const clusterRuns = report.runs.filter((r) => r.backend === 'cluster');
  const shardRows = Object.entries(cluster.itemsPerPrimary).map(([port, items]) => {
    const figures = clusterRuns.map((r) => r.nodes.find((n) => n.port === Number(port))!);
    const share = median(clusterRuns.map((r, i) => figures[i]!.bids / Math.max(1, r.accepted)));
    return `| ${port} | ${items} | ${pct(share)} | ${fmt(median(figures.map((f) => f.usPerOwnBid)), 1)} | ${fmt(median(figures.map((f) => f.cores)), 2)} | ${fmt(1e6 / median(figures.map((f) => f.usPerOwnBid)))} |`;
  });
  const idleRows = report.summary
    .filter((s) => s.idle)
    .map(
      (s) =>
        `| ${label(s)} | ${fmt(s.idle!.apiCores, 3)} | ${fmt(s.idle!.redisCores, 3)} | ${fmt(s.idle!.redisCommandsPerS)} |`,
    );
  const reading = readingOf(report);
  return `# Bids on one Redis node and on a Redis Cluster

Measured ${report.started} by \`npm run bench:cluster -w services/api${report.quick ? ' -- --quick' : ''}\`
(services/api/bench/cluster-scaling.ts). Raw figures: redis-cluster-scaling.json.${report.quick ? '\n\n**A smoke run (--quick): too short to read.**' : ''}

**Machine:** ${m.cores} vCPU ${m.cpu}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, Redis ${m.redis},
${m.nats}. ${m.note}. Load average (1/5/15 min) before: ${m.loadAverage.before.join(' ')}; after:
${m.loadAverage.after.join(' ')}. Busiest processes at the start (ps, %CPU since each started):
${m.busiestAtStart.map((l) => `\`${l}\``).join(', ')}.

**Method.** Two Redis backends, both started by the benchmark, both \`redis-server\` ${m.redis} with no
persistence (\`--save '' --appendonly no\`) and default settings otherwise: one node, and a cluster of
${settings.primaries} primaries${settings.replicasPerPrimary ? ` with ${settings.replicasPerPrimary} replica each` : ' without replicas'} (LocalRedisCluster; slots split evenly). On each, ${settings.items} items are
opened first; ${settings.connections} autocannon connections (a separate process, closed loop, one bidder = one jwt
subject each) cycle through items of their own (${settings.items / settings.connections} each), each bid a cent above that item's last, so every bid
is accepted. The api runs from its build in **AUTH_MODE=jwt**, as in production (the token check is
part of a bid's cost, and the figures compare with bid-contention.md's jwt rows), BID_STRATEGY=lua,
with the outbox relay on (publishing to the shared NATS, a stream of its own per backend) and the
auction closer on; the per-user bid limit is active at 1,000,000/s so it never refuses. With 2 api
replicas the connections alternate between them. Every run starts its api processes afresh, warms them
for ${settings.warmupS} s (not counted), then measures ${settings.runS} s; scenarios are interleaved in ${settings.rounds} round(s), the order
rotating. CPU is utime+stime from /proc/<pid>/stat of each process, read before the run and after the
relays have emptied every outbox (so publishing each bid is counted), divided by the accepted bids.
"Redis" sums every redis-server of the backend; "busiest shard" is the primary that used the most
CPU. After every run each item's bid.accepted events in JetStream must carry exactly seqs 1..N, N being
the item's seq in Redis, and every seq a bidder was answered must be one of them, once; bids accepted
but never seen answered (a request in flight when a run's time was up, which autocannon drops) may
number at most one per connection per load. The "gaps" column counts items where any of this fails
(a run with one stops the benchmark). "nats-server" is the shared
server's CPU over the run per bid (other users' traffic included: an upper bound). Latency
percentiles from HdrHistogram over the measured runs.

## Accepted bids/s and CPU per bid (medians over the rounds)

| backend | accepted bids/s | each round | api CPU µs/bid | api cores | Redis CPU µs/bid (all nodes) | busiest shard µs/bid (of all bids) | busiest shard µs per bid it served | Redis cores: all / busiest | Redis commands / socket reads per bid | nats-server µs/bid (shared) | load generator cores | machine busy | p50 ms | p99 ms | errors / not 201 | gaps |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${mainRows.join('\n')}

## The cluster's shards (every cluster run)

| primary (port) | items | share of bids | CPU µs per bid it served | cores busy | bids/s at one core busy |
|---|---|---|---|---|---|
${shardRows.join('\n')}

Items go to the ${CLUSTER_PARTITIONS} partitions by the slot of their id, the partitions ${CLUSTER_PARTITIONS / settings.primaries} to a primary
(redis-keys.ts): ${settings.items} random items spread as the table shows (evenly would be ${pct(1 / Object.keys(cluster.itemsPerPrimary).length)} each).

## Idle: the apis up, no load (${settings.idleS} s, first round)

| backend | api cores | Redis cores | Redis commands/s |
|---|---|---|---|
${idleRows.join('\n')}

## Reading

${reading}

${notes}`;
}

/** The paragraphs that read the figures, from the figures. */
function readingOf(report: ScalingReport): string {
  const { summary, machine } = report;
  const cluster = report.backends.cluster!;
  const at = (b: BackendKey, r: number) => summary.find((s) => s.backend === b && s.apiReplicas === r)!;
  const most = Math.max(...summary.map((s) => s.apiReplicas));
  const [single1, cluster1, singleN, clusterN] = [
    at('single', 1),
    at('cluster', 1),
    at('single', most),
    at('cluster', most),
  ];
  const shards = Object.keys(cluster.itemsPerPrimary).length;
  const ratio1 = cluster1.acceptedPerS / single1.acceptedPerS;
  const ratioN = clusterN.acceptedPerS / singleN.acceptedPerS;
  const ratios = most > 1 ? [ratio1, ratioN] : [ratio1];
  const headline = ratios.every((r) => r >= 1.15)
    ? `×${ratios.map((r) => fmt(r, 2)).join(' / ')} with ${shards} shards`
    : ratios.every((r) => r <= 0.87)
      ? `not at all; the cluster is slower`
      : ratios.some((r) => r >= 1.15 || r <= 0.87)
        ? `not measurably (the rounds disagree: the machine's other users move the rate more than the backend does)`
        : `not at all`;
  const byReplicas = `with one api replica the cluster took ${fmt(cluster1.acceptedPerS)} accepted bids/s against ${fmt(single1.acceptedPerS)} on one node
(×${fmt(ratio1, 2)})${most > 1 ? `, with ${most} replicas ${fmt(clusterN.acceptedPerS)} against ${fmt(singleN.acceptedPerS)} (×${fmt(ratioN, 2)})` : ''}`;
  // One node near one core busy would mean that Redis did limit it.
  const why =
    single1.redisCores >= 0.8
      ? `The single Redis was ${fmt(single1.redisCores, 2)} cores busy, so on one node Redis was the limit.`
      : `Redis is not what limits this machine: the single node was ${fmt(single1.redisCores, 2)} of a core busy, the cluster's
busiest primary ${fmt(cluster1.busiestCores, 2)}, while the api and autocannon held ${fmt(single1.apiCores + single1.generatorCores, 2)} cores and the machine was
${pct(single1.machineBusy)} busy (load average ${machine.loadAverage.before.join(' ')} before, ${machine.loadAverage.after.join(' ')} after: other users' work took the rest).`;
  const apiRatio = cluster1.apiUsPerBid / single1.apiUsPerBid;
  const idleApiUs =
    (((cluster1.idle?.apiCores ?? Number.NaN) - (single1.idle?.apiCores ?? Number.NaN)) * 1e6) /
    cluster1.acceptedPerS;
  const diffUs = cluster1.apiUsPerBid - single1.apiUsPerBid;
  const idleLine = `an idle api replica uses ${fmt(cluster1.idle?.apiCores ?? Number.NaN, 2)} cores on the cluster against ${fmt(single1.idle?.apiCores ?? Number.NaN, 2)} on one node (the idle table: its relay
polls ${CLUSTER_PARTITIONS} partition streams, pausing 10 ms after a busy round and up to 250 ms while quiet, its closer walks ${CLUSTER_PARTITIONS} work lists), which at ${fmt(cluster1.acceptedPerS)} bids/s is about ${fmt(idleApiUs)} µs per bid`;
  const perBidLine = `the cluster client cuts each auto-pipelined batch into one write per shard, and the relay
reads ${CLUSTER_PARTITIONS} partition streams a round and acknowledges each partition apart: ${fmt(cluster1.commandsPerBid, 2)} Redis commands per bid against
${fmt(single1.commandsPerBid, 2)}`;
  const apiCost =
    apiRatio < 1.1
      ? ` The api's CPU per bid is about the same on both (${fmt(cluster1.apiUsPerBid)} µs on the cluster, ${fmt(single1.apiUsPerBid)} µs on one node).`
      : ` What the api can serve on the cores it gets sets the rate, and in cluster mode it spends ×${fmt(apiRatio, 2)} the CPU per bid
(${fmt(cluster1.apiUsPerBid)} µs against ${fmt(single1.apiUsPerBid)} with one replica). ${
          idleApiUs >= 0.8 * diffUs
            ? `Polling that does not depend on bids accounts for most of the ${fmt(diffUs)} µs: ${idleLine}. What each bid adds is small beside it: ${perBidLine}.`
            : `About ${fmt(idleApiUs)} of the ${fmt(diffUs)} µs is polling that does not depend on bids: ${idleLine}. The rest is per bid: ${perBidLine}.`
        }`;
  const replicaRatios = [
    singleN.acceptedPerS / single1.acceptedPerS,
    clusterN.acceptedPerS / cluster1.acceptedPerS,
  ];
  const replicasLine =
    most <= 1
      ? ''
      : replicaRatios.every((r) => r >= 1.15)
        ? ` A second api replica helped (×${fmt(replicaRatios[0]!, 2)} on one node, ×${fmt(replicaRatios[1]!, 2)} on the cluster): one Node process
runs the bid path on one core, two can take the second.`
        : ` A second api replica helped little (×${fmt(replicaRatios[0]!, 2)} on one node, ×${fmt(replicaRatios[1]!, 2)} on the cluster): there was no idle
second core for it to take (the machine ${pct(singleN.machineBusy)} busy), and each replica brings its own relay and closer
(${fmt(singleN.apiUsPerBid)} and ${fmt(clusterN.apiUsPerBid)} µs of api CPU per bid with ${most} replicas).`;

  // A shard's CPU per bid it served, less the part the idle polling costs at the measured rate.
  const fixedUs = ((cluster1.idle?.redisCores ?? 0) * 1e6) / cluster1.acceptedPerS;
  const grossUs = cluster1.primaryUsPerOwnBid;
  const netUs = Math.max(grossUs - fixedUs, grossUs / 4);
  const gain = (shards * single1.redisUsPerBid) / grossUs;
  return `**How far it scales on this machine: ${headline}.** On ${machine.cores} cores ${byReplicas}. ${why}${apiCost}${replicasLine}

**Redis per bid.** The single node spent ${fmt(single1.redisUsPerBid, 1)} µs of CPU per bid, the cluster ${fmt(cluster1.redisUsPerBid, 1)} µs summed over its
${shards} primaries, and its nodes processed ${fmt(cluster1.readsPerBid / single1.readsPerBid, 1)}× the socket reads per bid (${fmt(cluster1.readsPerBid, 2)} against ${fmt(single1.readsPerBid, 2)}):
each batch the api and its relay send is cut in ${shards}, one per shard, and every read and write is a system call
and an event-loop turn on top of the commands. Spreading bids over shards costs Redis work per bid; it pays only when one node's core is the limit.

**What the per-shard CPU implies for ElastiCache.** With one api replica a primary spent ${fmt(grossUs, 1)} µs of CPU per bid
it served (median over the primaries; the busiest ${fmt(cluster1.busiestUsPerOwnBid, 1)} µs${most > 1 ? `, with ${most} api replicas ${fmt(clusterN.busiestUsPerOwnBid, 1)} µs` : ''}), of which about ${fmt(fixedUs)} µs at
this rate is the relays' and closers' polling, which does not grow with bids. So one shard at 100% of one core takes
about **${fmt(1e6 / grossUs)} bids/s** counting everything, about ${fmt(1e6 / netUs)} bids/s once the polling is spread over many
bids, and ${shards} shards **${fmt((shards * 1e6) / grossUs)}–${fmt((shards * 1e6) / netUs)} bids/s** with bids spread evenly (here the busiest shard
served ${pct(cluster1.busiestShareOfBids)} of them; at that spread ${fmt(cluster1.redisCeilingPerS)} bids/s before it is one core busy). One node at one
core: about ${fmt(1e6 / single1.redisUsPerBid)} bids/s, so ${shards} shards give ×${fmt(gain, 1)}–${fmt((shards * single1.redisUsPerBid) / netUs, 1)} its ceiling${
    gain < shards * 0.9
      ? `; counting everything, a shard spends more per bid than one node does at this rate, its batches
being 1/${shards} the size (they grow again as each shard gets busier)`
      : ''
  }. Redis runs commands on one thread, so a shard is bounded by one core
whatever the node size (more vCPUs help its network I/O, not the scripts), and the headroom to keep is per shard: a
failover moves a shard's load to its replica, not to the other shards. The µs are this machine's (${cpuName(machine.cpu)}): on
ElastiCache, divide EngineCPUUtilization by the bids. The api fleet comes first: at ${fmt(cluster1.apiUsPerBid)} µs per bid
it takes about ${fmt(cluster1.apiUsPerBid / netUs)} api cores to keep one shard's core busy, and more shards than the ${CLUSTER_PARTITIONS} partitions
(redis-keys.ts) would sit idle.

**The next limits, as measured here** (explained below). The shared nats-server spent about
${fmt(cluster1.natsUsPerBid)} µs of CPU per bid (other users' traffic included, so an upper bound): one stream's leader at one core
is then about ${fmt(1e6 / cluster1.natsUsPerBid)} bids/s, whatever the number of Redis shards. With no load, one api replica on the
cluster sent ${fmt(cluster1.idle?.redisCommandsPerS ?? Number.NaN)} commands/s to the shards (one node: ${fmt(single1.idle?.redisCommandsPerS ?? Number.NaN)}), a cost each added replica repeats.`;
}

/** The CPU's name for prose, without the core count. */
function cpuName(cpu: string): string {
  return cpu.replace(/\s+\d+-Core Processor$/, '').trim() || 'CPU';
}

import type { ProfileSummary } from './cpu-profile-summary.js';
import type { CopyRun, DrainRun, LiveRun, WorkerSettings } from './runs.js';

export interface BenchResults {
  readonly date: string;
  readonly machine: {
    readonly cpu: string;
    readonly cores: number;
    readonly memoryGiB: number;
    readonly node: string;
    readonly postgres: string;
    readonly natsServer: string;
    readonly loadAverageAtStart: string;
    readonly loadAverageAtEnd: string;
    readonly note: string;
  };
  readonly settings: {
    readonly events: number;
    readonly rounds: number;
    readonly liveRounds: number;
    readonly rate: number;
    readonly sustainedSeconds: number;
    readonly burst: number;
    readonly workers: readonly WorkerSettings[];
    readonly variants: readonly string[];
    readonly prefillSeconds: number;
  };
  readonly copies: readonly CopyRun[];
  readonly drains: readonly DrainRun[];
  readonly sustained: readonly LiveRun[];
  readonly bursts: readonly LiveRun[];
  readonly profiles: ReadonlyArray<
    WorkerSettings & { variant: string; eventsPerSecond: number; file: string; summary: ProfileSummary }
  >;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const int = (n: number) => Math.round(n).toLocaleString('en');
const dec = (n: number, digits = 1) => n.toFixed(digits);
const pct = (n: number) => `${Math.round(n * 100)}%`;

/** The Markdown report of one run of the benchmark. */
export function renderReport(r: BenchResults): string {
  const { settings: s, machine: m } = r;
  const copyRate = median(r.copies.map((c) => c.rowsPerSecond));
  const drainRows = s.variants.flatMap((variant) =>
    s.workers.map((w) => {
      const runs = r.drains.filter(
        (d) => d.variant === variant && d.batchSize === w.batchSize && d.concurrency === w.concurrency,
      );
      const rate = median(runs.map((d) => d.eventsPerSecond));
      return (
        `| ${variant}, BATCH_SIZE=${w.batchSize}, WRITE_CONCURRENCY=${w.concurrency} ` +
        `| ${runs.map((d) => int(d.eventsPerSecond)).join(', ')} | ${int(rate)} | **${dec(rate / copyRate, 2)}** ` +
        `| ${dec(median(runs.map((d) => d.workerUsPerEvent)))} | ${dec(median(runs.map((d) => d.backendUsPerEvent)))} ` +
        `| ${dec(median(runs.map((d) => d.natsServerUsPerEvent)))} ` +
        `| ${pct(median(runs.map((d) => d.machineBusyShare)))} |`
      );
    }),
  );
  const copyRow =
    `| PostgreSQL COPY into an identical table | ${r.copies.map((c) => int(c.rowsPerSecond)).join(', ')} ` +
    `| ${int(copyRate)} | 1.00 | ${dec(median(r.copies.map((c) => c.clientUsPerRow)))} (COPY client) ` +
    `| ${dec(median(r.copies.map((c) => c.backendUsPerRow)))} | – | ${pct(median(r.copies.map((c) => c.machineBusyShare)))} |`;

  const byVariant = (runs: readonly LiveRun[]) =>
    s.variants.map((variant) => ({ variant, runs: runs.filter((x) => x.variant === variant) }));
  const sustainedRows = byVariant(r.sustained).map(({ variant, runs }) => {
    const lat = (k: 'p50' | 'p90' | 'p99' | 'p99_9' | 'max') =>
      dec(median(runs.map((x) => x.latencyMs[k])), 0);
    return (
      `| ${variant} | ${int(median(runs.map((x) => x.publishedPerSecond)))} ` +
      `| ${runs.map((x) => dec(x.workerUsPerEvent)).join(', ')} | ${pct(median(runs.map((x) => x.workerCoreShare)))} ` +
      `| ${dec(median(runs.map((x) => x.backendUsPerEvent)))} | ${dec(median(runs.map((x) => x.natsServerUsPerEvent)))} ` +
      `| ${lat('p50')} / ${lat('p90')} / ${lat('p99')} / ${lat('p99_9')} / ${lat('max')} ` +
      `| ${int(median(runs.map((x) => x.maxLag)))} |`
    );
  });
  const burstRows = byVariant(r.bursts).map(({ variant, runs }) => {
    const b = (f: (x: NonNullable<LiveRun['burst']>) => number) => median(runs.map((x) => f(x.burst!)));
    return (
      `| ${variant} | ${int(b((x) => x.events))} in ${dec(b((x) => x.publishSeconds))} s ` +
      `| ${int(b((x) => x.steadyLag))} | ${runs.map((x) => int(x.burst!.peakLag)).join(', ')} ` +
      `| ${runs.map((x) => dec(x.burst!.recoverySeconds)).join(', ')} | ${int(b((x) => x.catchUpPerSecond))} ` +
      `| ${dec(median(runs.map((x) => x.workerUsPerEvent)))} ` +
      `| ${dec(median(runs.map((x) => x.latencyMs.p99)), 0)} / ${dec(median(runs.map((x) => x.latencyMs.max)), 0)} |`
    );
  });
  const profileSections = r.profiles.map(
    (
      p,
    ) => `**${p.variant}, BATCH_SIZE=${p.batchSize}, WRITE_CONCURRENCY=${p.concurrency}** (${int(p.eventsPerSecond)} events/s under the profiler, ${int(p.summary.sampledMs)} ms of CPU sampled; \`${p.file}\`)

| where (self time) | share |
|---|---:|
${p.summary.byPlace.map((x) => `| ${x.name} | ${pct(x.share)} |`).join('\n')}

| heaviest functions (self time) | share |
|---|---:|
${p.summary.topFunctions.map((x) => `| \`${x.name.replace(/\|/g, '\\|')}\` | ${dec(x.share * 100)}% |`).join('\n')}
`,
  );

  const liveSection =
    r.sustained.length === 0
      ? ''
      : `## Sustained rate

${s.rate.toLocaleString('en')} events/s for ${s.sustainedSeconds} s (after 3 s of warm-up, not counted) to a worker with default settings (BATCH_SIZE=256,
WRITE_CONCURRENCY=2, BATCH_MAX_WAIT_MS=50), ${s.liveRounds} rounds. Latency is per event, from the
moment the stream stored it to the worker's acknowledgement (sent only after COMMIT), seen by a
subscriber to the stream's ack subjects; percentiles from an HdrHistogram (hdr-histogram-js).

| worker | events/s | worker CPU µs/event, each run | worker CPU, share of one core | PostgreSQL CPU µs/event | nats-server CPU µs/event | latency ms p50 / p90 / p99 / p99.9 / max | largest lag |
|---|---:|---:|---:|---:|---:|---:|---:|
${sustainedRows.join('\n')}

## Lag recovery after a burst

${s.rate.toLocaleString('en')} events/s for 5 s, then ${s.burst.toLocaleString('en')} events as fast as the load process
publishes them, then ${s.rate.toLocaleString('en')} events/s again. "Steady lag" is the largest lag (events
published and not yet acknowledged, sampled every 50 ms) before the burst; recovery runs from
the burst's first event until the lag is back under it. CPU per event counts from the burst on.

| worker | burst | steady lag | peak lag, each run | recovery s, each run | events/s while catching up | worker CPU µs/event | latency ms p99 / max |
|---|---:|---:|---:|---:|---:|---:|---:|
${burstRows.join('\n')}
`;

  return `# Archival throughput

The archival worker (a process of its own, started as \`npm run dev\` starts it) against PostgreSQL
\`COPY\` of the same rows, in the same run (${r.date.slice(0, 10)}). Load comes from a separate load
process publishing \`bid.accepted\` events (${s.events.toLocaleString('en')} per backlog, 50 items) to
JetStream with core NATS publishes, each with its \`Nats-Msg-Id\`. CPU is utime+stime from
\`/proc/<pid>/stat\` of the worker process and of its PostgreSQL backends; "machine busy" is the
share of all ${m.cores} cores in use meanwhile, by anything (other engineers' work included).

## Backlog: events/s beside COPY

A new worker process with its own durable consumer archives the pre-filled stream into a fresh
database, for each setting, in ${s.rounds} rounds interleaved with COPY runs. Measured from the
moment 10% of the events are acknowledged (start-up and JIT warm-up left out) to the last
acknowledgement, counted by a subscriber to the stream's ack subjects. Every run checks that exactly ${s.events.toLocaleString('en')} rows were stored.

| path | events/s, each run | median | ratio to COPY | worker CPU µs/event | PostgreSQL CPU µs/row | nats-server CPU µs/event | machine busy |
|---|---:|---:|---:|---:|---:|---:|---:|
${drainRows.join('\n')}
${copyRow}

COPY is ${s.events.toLocaleString('en')} rows in text format, 1000 rows a chunk, into \`CREATE TABLE ... (LIKE bids
INCLUDING ALL)\` (same columns, keys and indexes). What the worker does on top, per event: a
JetStream delivery and an acknowledgement, a schema check (malformed events go to the dead-letter
stream), a duplicate-proof insert (\`ON CONFLICT DO NOTHING\` on the primary key and the unique
event id) and a COMMIT per batch before the batch is acknowledged.

${liveSection}${
    profileSections.length > 0
      ? `
## Where the worker's CPU goes

One extra backlog run per worker under \`node --cpu-prof\` (not part of the figures above), self
time inside the measured window only.

${profileSections.join('\n')}`
      : ''
  }
## Machine

${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB memory; Node ${m.node}, PostgreSQL ${m.postgres} and
${m.natsServer} on the same host. Load average ${m.loadAverageAtStart} at the start, ${m.loadAverageAtEnd}
at the end. What else ran: ${m.note}. The shared PostgreSQL server serves every test on the machine;
read the ratios and the CPU per event, which move less than the rates.

Reproduce: \`flock /tmp/bench.lock npm run bench -w services/archival\` (settings in the header of
\`services/archival/bench/archival-throughput.ts\`; raw figures in \`archival-throughput.json\`).
`;
}

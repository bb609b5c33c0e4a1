/**
 * Archival throughput and cost, beside PostgreSQL COPY of the same rows, in one run:
 *
 * - drain: a stream pre-filled with BENCH_EVENTS bids (by a separate load process) is archived
 *   by a new worker process per run, for each BATCH_SIZE x WRITE_CONCURRENCY setting, in rounds
 *   interleaved with COPY runs; events/s and the worker's CPU per event (utime+stime from /proc).
 * - sustained: the load process publishes BENCH_RATE events/s for BENCH_SUSTAINED_S seconds to a
 *   worker with default settings; CPU per event and stream → committed latency percentiles.
 * - burst: the same steady rate with BENCH_BURST events published at once in the middle; the
 *   peak lag and how long the worker takes to be back to its steady lag.
 *
 * BENCH_BASELINE_REF=<git ref> runs that commit's worker beside this one in every round, and
 * BENCH_WORKER_NODE_ARGS="--flag ...;--other ..." this worker under each set of node options too.
 * BENCH_PROFILE=1 adds one drain per worker under `node --cpu-prof` (not part of the figures).
 * BENCH_QUICK=1 is a smoke run. Run alone on the machine: `flock /tmp/bench.lock npm run bench
 * -w services/archival`, with BENCH_MACHINE_NOTE saying what else ran.
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { connect } from 'nats';
import pg from 'pg';
import {
  REPO_ROOT,
  TEST_NATS_URL,
  TEST_PG_ADMIN_URL,
  benchProgress,
  benchResultsDir,
} from '@gavel/shared/testing';
import { dropTopology } from '@gavel/shared/testing';
import { benchTag } from './bench-events.js';
import { summarizeCpuProfile } from './cpu-profile-summary.js';
import { loadAverage } from './process-cpu.js';
import { startPrivateNats } from './private-nats.js';
import { renderReport, type BenchResults } from './report.js';
import {
  copyRun,
  drainRun,
  liveRun,
  prefill,
  type BenchContext,
  type CopyRun,
  type DrainRun,
  type LiveRun,
  type WorkerSettings,
} from './runs.js';
import type { WorkerVariant } from './worker-process.js';

const quick = process.env.BENCH_QUICK === '1';
const int = (name: string, fallback: number, quickValue: number, min = 1) => {
  const value = Number(process.env[name] ?? (quick ? quickValue : fallback));
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}`);
  return value;
};
const settings = {
  events: int('BENCH_EVENTS', 100_000, 20_000),
  rounds: int('BENCH_ROUNDS', 3, 1),
  liveRounds: int('BENCH_LIVE_ROUNDS', 2, 1, 0),
  rate: int('BENCH_RATE', 5000, 2000),
  sustainedSeconds: int('BENCH_SUSTAINED_S', 20, 5),
  burst: int('BENCH_BURST', 60_000, 10_000),
  workers: (process.env.BENCH_WORKERS ?? (quick ? '256x2' : '256x2,1000x2,1000x4'))
    .split(',')
    .map((pair): WorkerSettings => {
      const [batchSize, concurrency] = pair.split('x').map(Number);
      if (!batchSize || !concurrency) throw new Error(`BENCH_WORKERS: bad pair ${pair}`);
      return { batchSize, concurrency };
    }),
};

const variants: WorkerVariant[] = [{ label: 'worker', entry: 'services/archival/src/main.ts' }];
for (const set of (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(';').filter((x) => x.trim())) {
  const nodeArgs = set.split(' ').filter(Boolean);
  variants.push({ label: `worker ${nodeArgs.join(' ')}`, entry: variants[0]!.entry, nodeArgs });
}
if (process.env.BENCH_BASELINE_REF) variants.push(extractWorkerAt(process.env.BENCH_BASELINE_REF));

// BENCH_SHARED_NATS=1 measures against the shared server instead of a private one.
const privateNats = process.env.BENCH_SHARED_NATS === '1' ? undefined : await startPrivateNats();
const natsUrl = privateNats?.url ?? TEST_NATS_URL;
const nc = await connect({ servers: natsUrl, name: 'archival-bench' });
const admin = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
await admin.connect();
const ctx: BenchContext = {
  natsUrl,
  ...(privateNats ? { natsPid: privateNats.pid } : {}),
  nc,
  jsm: await nc.jetstreamManager(),
  admin,
};
const loadAverageAtStart = loadAverage();
const tag = benchTag();
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const fmt = (n: number) => Math.round(n).toLocaleString('en');

// Steps for the bench harness's progress bar: the prefill, every COPY, drain and live run.
const progress = benchProgress(
  1 +
    settings.rounds +
    1 +
    settings.rounds * settings.workers.length * variants.length +
    2 * settings.liveRounds * variants.length,
);
const filled = await prefill(ctx, tag, settings.events);
progress.step('prefill');
log(`stream pre-filled with ${fmt(settings.events)} bids in ${filled.seconds.toFixed(1)} s`);
const copies: CopyRun[] = [];
const drains: DrainRun[] = [];
const sustained: LiveRun[] = [];
const bursts: LiveRun[] = [];
const profiles: Array<BenchResults['profiles'][number]> = [];
try {
  // Every configuration once per round, COPY between rounds, so that drift on the shared machine
  // touches all of them alike.
  for (let round = 1; round <= settings.rounds; round += 1) {
    copies.push(await copyRun(tag, settings.events));
    progress.step('COPY');
    log(`round ${round}: COPY ${fmt(copies.at(-1)!.rowsPerSecond)} rows/s`);
    for (const w of settings.workers) {
      for (const variant of round % 2 === 1 ? variants : [...variants].reverse()) {
        const run = await drainRun(ctx, filled.topology, settings.events, variant, w);
        drains.push(run);
        progress.step(`${variant.label} ${w.batchSize}x${w.concurrency}`);
        log(
          `round ${round}: ${variant.label} ${w.batchSize}x${w.concurrency} ${fmt(run.eventsPerSecond)} events/s, ` +
            `${run.workerUsPerEvent.toFixed(1)} µs CPU/event`,
        );
      }
    }
  }
  copies.push(await copyRun(tag, settings.events));
  progress.step('COPY');
  log(`COPY ${fmt(copies.at(-1)!.rowsPerSecond)} rows/s`);

  const steady = { kind: 'steady', perSecond: settings.rate } as const;
  for (let round = 1; round <= settings.liveRounds; round += 1) {
    for (const variant of round % 2 === 1 ? variants : [...variants].reverse()) {
      const s = await liveRun(ctx, variant, benchTag(), [
        { ...steady, seconds: 3 },
        { ...steady, seconds: settings.sustainedSeconds },
      ]);
      sustained.push(s);
      progress.step(`sustained ${variant.label}`);
      log(
        `sustained ${variant.label}: ${fmt(s.publishedPerSecond)} events/s, ${s.workerUsPerEvent.toFixed(1)} µs CPU/event, ` +
          `p99 ${s.latencyMs.p99} ms`,
      );
      const b = await liveRun(ctx, variant, benchTag(), [
        { ...steady, seconds: 5 },
        { kind: 'burst', events: settings.burst },
        { ...steady, seconds: quick ? 5 : 15 },
      ]);
      bursts.push(b);
      progress.step(`burst ${variant.label}`);
      log(
        `burst ${variant.label}: peak lag ${fmt(b.burst!.peakLag)}, recovered in ${b.burst!.recoverySeconds.toFixed(1)} s`,
      );
    }
  }

  if (process.env.BENCH_PROFILE === '1') {
    const dir = `${REPO_ROOT}/.gavel/bench/profiles`;
    rmSync(dir, { recursive: true, force: true });
    for (const variant of variants) {
      const w = settings.workers.at(-1)!;
      const run = await drainRun(ctx, filled.topology, settings.events, variant, w, dir);
      const p = run.cpuProfile!;
      profiles.push({
        variant: variant.label,
        ...w,
        eventsPerSecond: run.eventsPerSecond,
        file: p.path.replace(`${REPO_ROOT}/`, ''),
        summary: summarizeCpuProfile(p.path, p),
      });
      log(`profiled ${variant.label} ${w.batchSize}x${w.concurrency}: ${p.path}`);
    }
  }
} finally {
  await dropTopology(filled.topology, natsUrl);
  await admin.end().catch(() => undefined);
  await nc.close();
  await privateNats?.stop();
}

const sh = (cmd: string) => execSync(cmd).toString().trim();
const results: BenchResults = {
  date: new Date().toISOString(),
  machine: {
    cpu: sh("lscpu | sed -n 's/^Model name: *//p'") || (cpus()[0]?.model ?? 'unknown'),
    cores: Number(sh('nproc')),
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    postgres: sh(`psql "${TEST_PG_ADMIN_URL}" -Atc 'SHOW server_version'`),
    natsServer: `${sh('nats-server --version')}${privateNats ? ' (a private server for the benchmark)' : ' (the shared server)'}`,
    loadAverageAtStart,
    loadAverageAtEnd: loadAverage(),
    // Whoever runs it says what else the machine was doing; the load average alone cannot tell.
    note: process.env.BENCH_MACHINE_NOTE ?? 'not stated (set BENCH_MACHINE_NOTE)',
  },
  settings: { ...settings, variants: variants.map((v) => v.label), prefillSeconds: filled.seconds },
  copies,
  drains,
  sustained,
  bursts,
  profiles,
};
const dir = benchResultsDir(REPO_ROOT);
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/archival-throughput.json`, `${JSON.stringify(results, null, 2)}\n`);
const md = renderReport(results);
writeFileSync(`${dir}/archival-throughput.md`, md);
console.log(md);

/**
 * The worker as it was at a git ref, for a before/after comparison in the same run: its src and
 * migrations are extracted under .gavel/ (ignored by git), where it still resolves this
 * checkout's packages.
 */
function extractWorkerAt(ref: string): WorkerVariant {
  const sha = execFileSync('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: REPO_ROOT })
    .toString()
    .trim();
  const dir = `.gavel/bench/archival-${sha}`;
  rmSync(`${REPO_ROOT}/${dir}`, { recursive: true, force: true });
  mkdirSync(`${REPO_ROOT}/${dir}`, { recursive: true });
  execSync(
    `git archive ${sha} services/archival/src services/archival/migrations | tar -x -C ${dir} --strip-components=2`,
    { cwd: REPO_ROOT },
  );
  return { label: `worker at ${sha}`, entry: `${dir}/src/main.ts` };
}

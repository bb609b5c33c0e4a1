/**
 * Bid benchmark. The api's CPU per answer beside a bare node:http floor (the same POST parsed
 * and answered 201 JSON), interleaved in rounds, with the load from a separate process
 * (autocannon, load-generator.ts); then 1, 10, 100 and 500 bidders on one item, lua vs
 * optimistic, with the floor again at each level. Writes docs/results/bid-contention.{md,json}.
 *
 *   npm run bench -w services/api                   the full run (about 6 minutes)
 *   npm run bench -w services/api -- --quick        a smoke run (under a minute)
 *   npm run bench -w services/api -- --profile NAME a CPU profile of the api under accepted
 *                                                   jwt bids, summarized in docs/results/bid-profile-NAME.md
 *
 * BENCH_API_ENV='{"OUTBOX_RELAY":"false"}' adds settings to every api process (experiments;
 * the report says which were used).
 *
 * The api runs from its build (services/api/dist): the harness builds it first.
 */
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { signToken } from '@gavel/shared';
import {
  REPO_ROOT,
  benchProgress,
  benchResultsDir,
  benchSettings,
  TEST_REDIS_URL,
  deleteRedisKeys,
  dropTopology,
  freePort,
  testTopology,
  uniqueId,
  waitFor,
} from '@gavel/shared/testing';
import { redisKeys } from '../src/redis-keys.js';
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
import { summarizeProfile, type ProfileSummary } from './cpu-profile.js';
import {
  LoadGenerator,
  latencySummary,
  measure,
  median,
  startServer,
  type BenchServer,
  type Measured,
} from './harness.js';
import type { LoadSpec } from './load-spec.js';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, profile: { type: 'string' } },
});
const QUICK = args.quick === true;
// The bench harness (npm run bench at the root) may set these; see @gavel/shared's bench-run.ts.
const SETTINGS = benchSettings({
  /** Rounds of the CPU-per-answer comparison, and seconds per run. */
  cpuRounds: QUICK ? 2 : 5,
  cpuRunS: QUICK ? 1 : 4,
  warmupS: 2,
  levels: QUICK ? [1, 100] : [1, 10, 100, 500],
  contentionRounds: QUICK ? 1 : 2,
  contentionRunS: QUICK ? 1 : 3,
  /** Runs the api from source (tsx) instead of building it first: a smoke run's shortcut. */
  fromSource: false,
});
const CPU_ROUNDS = SETTINGS.cpuRounds;
const CPU_RUN_S = SETTINGS.cpuRunS;
const CPU_CONNECTIONS = 32;
const LEVELS = SETTINGS.levels;
const CONTENTION_ROUNDS = SETTINGS.contentionRounds;
const CONTENTION_RUN_S = SETTINGS.contentionRunS;
const MAX_USERS = 500;

interface ApiUnderTest {
  readonly server: BenchServer;
  readonly prefix: string;
  readonly topology: ReturnType<typeof testTopology>;
  readonly mode: 'jwt' | 'open';
  readonly strategy: 'lua' | 'optimistic';
}

const redis = new Redis(TEST_REDIS_URL);
const users = Array.from({ length: MAX_USERS }, (_, i) => `bench_u${i}`);
const tokens = await Promise.all(users.map((u) => signToken(BENCH_AUTH_SECRET, u)));
const started = new Date().toISOString();
const loadBefore = loadAverage();
const machine = describeMachine(
  loadBefore,
  process.env.BENCH_MACHINE_NOTE ??
    'shared 2-core VM: other engineers were working on it (load average above); generator, api, Redis and NATS on the same cores',
);
const build = () => buildApi(SETTINGS.fromSource);

async function startApi(
  mode: 'jwt' | 'open',
  strategy: 'lua' | 'optimistic',
  nodeArgs: string[] = [],
): Promise<ApiUnderTest> {
  const prefix = `${uniqueId('bench')}:`;
  const topology = testTopology();
  const server = await startBenchApi(
    `api-${mode}-${strategy}`,
    {
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: prefix,
      NATS_STREAM: topology.stream,
      EVENT_PREFIX: topology.prefix,
      AUTH_MODE: mode,
      BID_STRATEGY: strategy,
    },
    { fromSource: SETTINGS.fromSource, nodeArgs },
  );
  return { server, prefix, topology, mode, strategy };
}

async function stopApi(api: ApiUnderTest): Promise<void> {
  await api.server.stop();
  await deleteRedisKeys(api.prefix).catch(() => undefined);
  await dropTopology(api.topology).catch(() => undefined);
}

const createItem = (api: ApiUnderTest) => openItem(api.server.url, tokens[0]!);

/** Waits until the api's relay has published every accepted bid: that CPU belongs to the run. */
function drained(api: ApiUnderTest) {
  const outbox = redisKeys(api.prefix).partitions[0]!.outbox;
  if (EXTRA_API_ENV.OUTBOX_RELAY === 'false') return async () => undefined;
  return () =>
    waitFor(async () => (await redis.xlen(outbox)) === 0, {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: 'outbox to drain',
    }).then(() => undefined);
}

function spec(
  url: string,
  connections: number,
  durationS: number,
  rest: Omit<LoadSpec, 'url' | 'connections' | 'durationS'>,
): LoadSpec {
  return { url, connections, durationS, ...rest };
}

async function redisCpuS(): Promise<number> {
  const info = await redis.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

interface Run extends Measured {
  readonly round: number;
  /** Redis's CPU per answer, µs (the shared instance: other users' commands included). */
  readonly redisUsPerAnswer: number;
}

const generator = await LoadGenerator.start();
const progress = benchProgress(4 + 4 * CPU_ROUNDS + 3 * LEVELS.length * CONTENTION_ROUNDS);
async function timed(
  server: BenchServer,
  s: LoadSpec,
  settle?: () => Promise<void>,
  round = 0,
): Promise<Run> {
  const redisBefore = await redisCpuS();
  const m = await measure(generator, server, s, settle);
  const redisUs = ((await redisCpuS()) - redisBefore) * 1e6;
  const run = { ...m, round, redisUsPerAnswer: m.answers > 0 ? redisUs / m.answers : Number.NaN };
  process.stderr.write(
    `  ${server.name.padEnd(18)} c=${String(s.connections).padStart(3)} ${String(m.perSecond).padStart(6)}/s  ` +
      `${m.cpuUsPerAnswer.toFixed(0).padStart(5)} µs CPU/answer  ${JSON.stringify(m.statuses)}\n`,
  );
  progress.step(`${server.name} c=${s.connections}`);
  return run;
}

// ---------------------------------------------------------------- profile only
if (args.profile) {
  build();
  const dir = await mkdtemp(join(tmpdir(), 'gavel-prof-'));
  const api = await startApi('jwt', 'lua', ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const items = await Promise.all(Array.from({ length: CPU_CONNECTIONS }, () => createItem(api)));
  const load = spec(api.server.url, CPU_CONNECTIONS, QUICK ? 3 : 12, {
    paths: items.map(bidPath),
    tokens: tokens.slice(0, CPU_CONNECTIONS),
    users: [],
    amount: { kind: 'per-path', startCents: 100 },
  });
  await timed(api.server, { ...load, durationS: 2 }, drained(api));
  const run = await timed(api.server, load, drained(api));
  await stopApi(api);
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no .cpuprofile written');
  const summary = summarizeProfile(join(dir, file));
  if (process.env.BENCH_KEEP_PROFILE) process.stderr.write(`profile kept in ${dir}\n`);
  else await rm(dir, { recursive: true });
  const md = profileMarkdown(args.profile, run, summary);
  const out = join(REPO_ROOT, `docs/results/bid-profile-${args.profile}.md`);
  await writeFile(out, md);
  process.stderr.write(`wrote ${out}\n`);
  generator.stop();
  await redis.quit();
  process.exit(0);
}

// ---------------------------------------------------------------- full benchmark
build();
const floor = await startServer(
  'floor (node:http)',
  'services/api/bench/http-floor.mjs',
  await freePort(),
  {},
);
const [jwtLua, openLua, jwtOptimistic] = await Promise.all([
  startApi('jwt', 'lua'),
  startApi('open', 'lua'),
  startApi('jwt', 'optimistic'),
]);
const apis = [jwtLua, openLua, jwtOptimistic];

try {
  // Section 1: CPU per answer at a fixed concurrency, each connection bidding on its own item
  // (every bid the new highest: accepted) or below the minimum (409).
  const ownItems = {
    jwt: await Promise.all(Array.from({ length: CPU_CONNECTIONS }, () => createItem(jwtLua))),
    open: await Promise.all(Array.from({ length: CPU_CONNECTIONS }, () => createItem(openLua))),
  };
  const c = CPU_CONNECTIONS;
  const jwtTokens = tokens.slice(0, c);
  const scenarios: Array<{
    key: string;
    label: string;
    server: BenchServer;
    spec: LoadSpec;
    settle?: () => Promise<void>;
  }> = [
    {
      key: 'floor',
      label: 'floor: bare node:http, same POST, 201 JSON',
      server: floor,
      spec: spec(floor.url, c, CPU_RUN_S, {
        paths: ownItems.jwt.map(bidPath),
        tokens: jwtTokens,
        users: [],
        amount: { kind: 'per-path', startCents: 100 },
      }),
    },
    {
      key: 'jwt_accepted',
      label: 'api, jwt, accepted bid (201)',
      server: jwtLua.server,
      spec: spec(jwtLua.server.url, c, CPU_RUN_S, {
        paths: ownItems.jwt.map(bidPath),
        tokens: jwtTokens,
        users: [],
        amount: { kind: 'per-path', startCents: 100 },
      }),
      settle: drained(jwtLua),
    },
    {
      key: 'jwt_rejected',
      label: 'api, jwt, rejected bid (409 bid_too_low)',
      server: jwtLua.server,
      spec: spec(jwtLua.server.url, c, CPU_RUN_S, {
        paths: ownItems.jwt.map(bidPath),
        tokens: jwtTokens,
        users: [],
        amount: { kind: 'fixed', cents: 50 },
      }),
    },
    {
      key: 'open_accepted',
      label: 'api, open, accepted bid (201)',
      server: openLua.server,
      spec: spec(openLua.server.url, c, CPU_RUN_S, {
        paths: ownItems.open.map(bidPath),
        tokens: [],
        users: users.slice(0, c),
        amount: { kind: 'per-path', startCents: 100 },
      }),
      settle: drained(openLua),
    },
  ];
  process.stderr.write('warm-up\n');
  for (const s of scenarios) await timed(s.server, { ...s.spec, durationS: SETTINGS.warmupS }, s.settle);

  const cpuRuns: Record<string, Run[]> = Object.fromEntries(scenarios.map((s) => [s.key, []]));
  for (let round = 0; round < CPU_ROUNDS; round++) {
    process.stderr.write(`CPU per answer, round ${round + 1}/${CPU_ROUNDS}\n`);
    // Rotate the order each round so that no scenario always follows the same one.
    for (let i = 0; i < scenarios.length; i++) {
      const s = scenarios[(i + round) % scenarios.length]!;
      cpuRuns[s.key]!.push(await timed(s.server, s.spec, s.settle, round));
    }
  }

  // Section 2: bidders racing on one item, lua vs optimistic, the floor beside them.
  const contention: Record<string, Record<string, Run[]>> = {};
  for (const level of LEVELS) {
    const luaItem = await createItem(jwtLua);
    const optItem = await createItem(jwtOptimistic);
    const shared = {
      tokens: tokens.slice(0, Math.min(level, MAX_USERS)),
      users: [],
      classifyConflicts: true,
    };
    const racing = { kind: 'shared' as const, startCents: 100 };
    const points = [
      {
        key: 'floor',
        server: floor,
        spec: spec(floor.url, level, CONTENTION_RUN_S, {
          ...shared,
          paths: [bidPath(luaItem)],
          amount: racing,
        }),
      },
      {
        key: 'lua',
        server: jwtLua.server,
        spec: spec(jwtLua.server.url, level, CONTENTION_RUN_S, {
          ...shared,
          paths: [bidPath(luaItem)],
          amount: racing,
        }),
        settle: drained(jwtLua),
      },
      {
        key: 'optimistic',
        server: jwtOptimistic.server,
        spec: spec(jwtOptimistic.server.url, level, CONTENTION_RUN_S, {
          ...shared,
          paths: [bidPath(optItem)],
          amount: racing,
        }),
        settle: drained(jwtOptimistic),
      },
    ];
    contention[level] = { floor: [], lua: [], optimistic: [] };
    for (let round = 0; round < CONTENTION_ROUNDS; round++) {
      process.stderr.write(`contention, ${level} bidders, round ${round + 1}/${CONTENTION_ROUNDS}\n`);
      for (let i = 0; i < points.length; i++) {
        const p = points[(i + round) % points.length]!;
        contention[level]![p.key]!.push(await timed(p.server, p.spec, p.settle, round));
      }
    }
  }

  machine.loadAverage.after = loadAverage();
  const report = {
    started,
    quick: QUICK,
    machine,
    settings: {
      CPU_ROUNDS,
      CPU_RUN_S,
      CPU_CONNECTIONS,
      LEVELS,
      CONTENTION_ROUNDS,
      CONTENTION_RUN_S,
      apiFromSource: SETTINGS.fromSource,
    },
    cpu: cpuRuns,
    contention,
  };
  // What the figures mean and what was found: kept beside the harness, appended to every report.
  const notes = await readFile(new URL('./contention-notes.md', import.meta.url), 'utf8').catch(() => '');
  const md = `${reportMarkdown(report, scenarios)}${notes ? `\n${notes}` : ''}`;
  const outDir = benchResultsDir(REPO_ROOT);
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'bid-contention.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(outDir, 'bid-contention.md'), md);
  process.stdout.write(md);
} finally {
  generator.stop();
  await floor.stop();
  for (const api of apis) await stopApi(api);
  await redis.quit();
}

// ---------------------------------------------------------------- reports

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

function totals(runs: readonly Run[]) {
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  return statuses;
}

function reportMarkdown(
  report: {
    started: string;
    quick: boolean;
    machine: Record<string, unknown> & { loadAverage: { before: string[]; after: string[] }; note: string };
    cpu: Record<string, Run[]>;
    contention: Record<string, Record<string, Run[]>>;
  },
  scenarios: ReadonlyArray<{ key: string; label: string }>,
): string {
  const m = report.machine;
  const floorCpu = median(report.cpu.floor!.map((r) => r.cpuUsPerAnswer));
  const cpuRows = scenarios.map((s) => {
    const runs = report.cpu[s.key]!;
    const cpu = median(runs.map((r) => r.cpuUsPerAnswer));
    const lat = latencySummary(runs.map((r) => r.histogram));
    // The ratio per round (each run against the floor of the same round), then its median.
    const perRound = median(
      runs.map(
        (r) =>
          r.cpuUsPerAnswer /
          (report.cpu.floor!.find((f) => f.round === r.round)?.cpuUsPerAnswer ?? Number.NaN),
      ),
    );
    return `| ${s.label} | ${fmt(cpu)} | ${runs.map((r) => fmt(r.cpuUsPerAnswer)).join(' / ')} | ${fmt(cpu / floorCpu, 2)} | ${fmt(perRound, 2)} | ${fmt(median(runs.map((r) => r.perSecond)))} | ${fmt(median(runs.map((r) => r.cpuCores)), 2)} | ${lat.p50} | ${lat.p99} | ${fmt(median(runs.map((r) => r.redisUsPerAnswer)))} | ${statusText(totals(runs))} |`;
  });
  const levelRows: string[] = [];
  for (const [level, byKey] of Object.entries(report.contention)) {
    const floorLevel = median(byKey.floor!.map((r) => r.cpuUsPerAnswer));
    for (const key of ['floor', 'lua', 'optimistic']) {
      const runs = byKey[key]!;
      const lat = latencySummary(runs.map((r) => r.histogram));
      const steady = latencySummary(runs.map((r) => r.steadyHistogram));
      const st = totals(runs);
      const seconds = runs.reduce((a, r) => a + r.answers / Math.max(1, r.perSecond), 0);
      const accepted = (st['201'] ?? 0) / seconds;
      const cpu = median(runs.map((r) => r.cpuUsPerAnswer));
      levelRows.push(
        `| ${level} | ${key} | ${fmt(median(runs.map((r) => r.perSecond)))} | ${key === 'floor' ? '-' : fmt(accepted)} | ${lat.p50} | ${lat.p90} | ${lat.p99} | ${lat.p99_9} | ${lat.max} | ${steady.p99} | ${steady.max} | ${fmt(cpu)} | ${key === 'floor' ? '1.00' : fmt(cpu / floorLevel, 2)} | ${statusText(st)} |`,
      );
    }
  }
  return `# Bid path: CPU per answer and contention

Measured ${report.started} by \`npm run bench -w services/api${report.quick ? ' -- --quick' : ''}\`
(services/api/bench/contention.ts). Raw figures: bid-contention.json.

**Machine:** ${m.cores} vCPU ${m.cpu}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, Redis ${m.redis},
${m.nats}. ${m.note}. Load average (1/5/15 min) before: ${m.loadAverage.before.join(' ')}; after: ${m.loadAverage.after.join(' ')}.

**Method.** The load comes from a separate process (autocannon, one HTTP/1.1 keep-alive connection per
bidder, closed loop: each connection sends its next bid when the last one was answered). The server's CPU
is utime+stime of its process from /proc/<pid>/stat, read before and after each run, divided by the answers
it gave; for the api the closing reading waits until its outbox relay has published every accepted bid to
JetStream, so the relay's work is counted. The api runs from its build with the outbox relay and the auction
closer on, the per-user rate limit active (1,000,000/s, so it never refuses), AUTH_MODE as stated${Object.keys(EXTRA_API_ENV).length ? ` and, for this run, ${JSON.stringify(EXTRA_API_ENV)}` : ''}; the floor
is a bare \`node:http\` server that reads the same POST, parses its JSON and answers 201 with a bid-shaped JSON
body. Runs are interleaved in rounds (the order rotates each round), so the floor and the api see the same
machine. CPU per answer is the steady figure; requests/s and latency move with whatever else the machine runs.
Latency percentiles come from HdrHistogram (hdr-histogram-js) over every answer of every round.

## CPU per answer, ${CPU_CONNECTIONS} connections, each bidding on its own item (${report.cpu.floor!.length} rounds × ${CPU_RUN_S} s)

| scenario | CPU µs/answer (median) | per round | × floor | × floor (per-round median) | answers/s | server cores | p50 ms | p99 ms | Redis µs/answer | answers |
|---|---|---|---|---|---|---|---|---|---|---|
${cpuRows.join('\n')}

"Redis µs/answer" is the shared Redis server's CPU over the run divided by the answers (other users of
that Redis are included, so it is an upper bound).

## Bidders racing on one item (jwt mode; ${CONTENTION_ROUNDS} rounds × ${CONTENTION_RUN_S} s per point)

Every bidder sends the next amount of one shared counter, so a bid loses (409 bid_too_low) only when
another overtook it on the way; optimistic also answers 409 contention when its retries run out.

| bidders | server | answers/s | accepted/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | p99 ms, first answers left out | max ms, same | CPU µs/answer | × floor | answers |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${levelRows.join('\n')}
`;
}

function statusText(st: Record<string, number>): string {
  return (
    Object.entries(st)
      // A classified 409 is listed by its error code; the plain count would say it twice.
      .filter(([k]) => k !== '409' || !Object.keys(st).some((c) => c.startsWith('409:')))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || '-'
  );
}

function profileMarkdown(label: string, run: Run, s: ProfileSummary): string {
  const table = (rows: ProfileSummary['self']) =>
    rows.map((r) => `| ${r.percent} | \`${r.name}\` | ${r.where ? `\`${r.where}\`` : ''} |`).join('\n');
  return `# CPU profile of the api: accepted bids, jwt mode (${label})

\`npm run bench -w services/api -- --profile ${label}\`, ${new Date().toISOString()}: node --cpu-prof on the api
(lua, relay and closer on), ${CPU_CONNECTIONS} autocannon connections each bidding on its own item.
Load average before: ${loadBefore.join(' ')}. During the profiled run: ${run.perSecond} answers/s,
${fmt(run.cpuUsPerAnswer)} µs CPU per answer (profiling itself adds to it), statuses ${JSON.stringify(run.statuses)}.
Busy time sampled: ${s.busyMs} ms (idle excluded); percentages are of it.

## By purpose (a sample with a relay or NATS frame on its stack is the relay's; else the first package found on it, in the order listed in cpu-profile.ts)
| % | purpose | |
|---|---|---|
${table(s.byPurpose)}

## By package (self time)
| % | package | |
|---|---|---|
${table(s.byArea)}

## Functions by self time
| % | function | where |
|---|---|---|
${table(s.self)}

## Functions by inclusive time (what they and their callees cost)
| % | function | where |
|---|---|---|
${table(s.inclusive)}
`;
}

/**
 * Echo server vs a raw TCP echo baseline, measured side by side in one run with the same load
 * client: a fixed load (20 connections × 100 msg/s), then the highest rate each keeps p99 under
 * 5 ms (searching upward in bounded steps). Writes docs/results/latency-echo.{md,json,svg}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execSync } from 'node:child_process';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  REPO_ROOT,
  benchProgress,
  benchResultsDir,
  benchSettings,
  freePort,
  spawnService,
  waitFor,
} from '@gavel/shared/testing';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { runLoad, type LoadResult, type LoadSpec } from '../src/client/load-run.js';
import {
  createLatencyHistogram,
  summarize,
  type PercentileSummary,
} from '../src/client/latency-histogram.js';
import { renderPercentilePlot } from '../src/client/percentile-plot.js';
import { parseTarget, type Target } from '../src/client/probe-transport.js';

const PAYLOAD = 64;
// The bench harness (npm run bench at the root) may set these; see @gavel/shared's bench-run.ts.
const SETTINGS = benchSettings({ rounds: 5, warmupS: 1, durationS: 3, searchBudgetMs: 160_000 });
/** Each server runs the fixed load in ROUNDS interleaved slices, merged: the shared machine's load drifts. */
const ROUNDS = SETTINGS.rounds;
const FIXED: LoadSpec = {
  connections: 20,
  rate: 2000,
  payloadBytes: PAYLOAD,
  warmupS: SETTINGS.warmupS,
  durationS: SETTINGS.durationS,
};
/** Rates tried upward from the fixed load when it passes, downward when it does not. */
const LADDER = [250, 500, 1000, 2000, 3000, 4000, 6000, 8000, 11000, 14000, 18000, 23000, 30000];
/** A search step is STEP_SLICES short runs; it passes when the median slice's p99 does. */
const STEP_SLICES = 3;
const SEARCH_STEP: Omit<LoadSpec, 'rate'> = {
  connections: 20,
  payloadBytes: PAYLOAD,
  warmupS: 0.5,
  durationS: 2,
};
const P99_LIMIT_MS = 5;
/** The whole run stays under ~3 minutes: the search stops when this budget is spent. */
const BUDGET_MS = SETTINGS.searchBudgetMs;

const resultsDir = benchResultsDir(REPO_ROOT);
/** Fixed-load slices, then the search's steps (their number depends on where it stops: an estimate). */
const progress = benchProgress(3 * ROUNDS + (BUDGET_MS > 0 ? 2 * STEP_SLICES * 5 : 0));

async function startTcpBaseline(): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'services/latency/bench/tcp-echo-server.ts'],
    { cwd: REPO_ROOT, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' },
  );
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    { timeoutMs: 120_000, what: 'tcp baseline' },
  );
  return { port, child };
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSecondsOf(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Row {
  readonly label: string;
  readonly rate: number;
  /** CPU time per message (warm-up included), server and client processes. */
  readonly serverCpuUsPerMsg: number;
  readonly clientCpuUsPerMsg: number;
  /** p99 of each slice, when the row merges several. */
  readonly sliceP99Ms?: number[];
  readonly latencyMs: PercentileSummary;
  readonly serviceTimeMs: PercentileSummary;
  readonly received: number;
  readonly errors: number;
}

/** Each slice's p99, for the fixed load and the search steps. */
const sliceP99s = new WeakMap<LoadResult, number[]>();

const cpuCost = new WeakMap<LoadResult, { server: number; client: number }>();
const row = (r: LoadResult): Row => ({
  label: r.target.label,
  rate: r.spec.rate,
  serverCpuUsPerMsg: Math.round(cpuCost.get(r)?.server ?? Number.NaN),
  clientCpuUsPerMsg: Math.round(cpuCost.get(r)?.client ?? Number.NaN),
  sliceP99Ms: sliceP99s.get(r),
  latencyMs: summarize(r.histogram),
  serviceTimeMs: summarize(r.serviceHistogram),
  received: r.received,
  errors: r.errors,
});

const serverPids = new Map<string, number | undefined>();

async function measure(target: Target, spec: LoadSpec): Promise<LoadResult> {
  const pid = serverPids.get(target.label);
  const serverBefore = cpuSecondsOf(pid);
  const clientBefore = process.cpuUsage();
  const result = await runLoad(target, spec);
  const clientCpu = process.cpuUsage(clientBefore);
  const messages = spec.rate * (spec.warmupS + spec.durationS);
  cpuCost.set(result, {
    server: ((cpuSecondsOf(pid) - serverBefore) * 1e6) / messages,
    client: (clientCpu.user + clientCpu.system) / messages,
  });
  const s = summarize(result.histogram);
  process.stderr.write(
    `${target.label.padEnd(10)} ${String(spec.rate).padStart(6)} msg/s  p50 ${s.p50.toFixed(3)}  p99 ${s.p99.toFixed(3)}  p99.9 ${s.p99_9.toFixed(3)} ms  n=${result.received} err=${result.errors}\n`,
  );
  progress.step(`${target.label} ${spec.rate} msg/s`);
  return result;
}

/** One result out of several slices of the same load: histograms added, counts summed. */
function mergeSlices(slices: LoadResult[]): LoadResult {
  const [first, ...rest] = slices;
  if (!first) throw new Error('no slices');
  const merged = {
    ...first,
    spec: { ...first.spec, durationS: first.spec.durationS * slices.length },
    histogram: createLatencyHistogram(),
    serviceHistogram: createLatencyHistogram(),
  };
  for (const slice of slices) {
    merged.histogram.add(slice.histogram);
    merged.serviceHistogram.add(slice.serviceHistogram);
  }
  const sum = (key: 'expected' | 'sent' | 'received' | 'lost' | 'errors') =>
    slices.reduce((n, r) => n + r[key], 0);
  const cost = slices.map((r) => cpuCost.get(r)!);
  const result: LoadResult = {
    ...merged,
    expected: sum('expected'),
    sent: sum('sent'),
    received: sum('received'),
    lost: sum('lost'),
    errors: sum('errors'),
    maxSendLagMs: Math.max(...slices.map((r) => r.maxSendLagMs)),
    achievedRate: slices.reduce((n, r) => n + r.achievedRate, 0) / slices.length,
    finishedAt: rest.at(-1)?.finishedAt ?? first.finishedAt,
  };
  sliceP99s.set(
    result,
    slices.map((r) => summarize(r.histogram).p99),
  );
  cpuCost.set(result, {
    server: cost.reduce((n, c) => n + c.server, 0) / cost.length,
    client: cost.reduce((n, c) => n + c.client, 0) / cost.length,
  });
  return result;
}

/**
 * p99 under the limit and no errors. For a merged result the median slice's p99 decides: one
 * slice hit by a stall elsewhere on the shared machine must not decide the step.
 */
const passes = (r: LoadResult) => {
  const p99s = sliceP99s.get(r) ?? [summarize(r.histogram).p99];
  return median(p99s) < P99_LIMIT_MS && r.errors === 0;
};

interface SearchState {
  readonly target: Target;
  /** undefined until the first step (at the fixed rate) has said which way to go. */
  upward?: boolean;
  rates: number[];
  /** A failing upward step is measured once more before it ends the search. */
  retried: boolean;
  best?: LoadResult;
  steps: Row[];
  stoppedBy: string;
  done: boolean;
}

/**
 * Highest rate on the LADDER whose p99 stays under the limit, per server. The first step
 * measures the fixed rate (2000 msg/s) again: from there upward while rates pass (a failure is
 * confirmed by a second try), or downward until one passes. The servers take turns, one step
 * each, so drifting machine load hits both alike.
 */
async function searchInTurns(targets: Target[], deadline: number) {
  const start = LADDER.indexOf(FIXED.rate);
  const states: SearchState[] = targets.map((target) => ({
    target,
    rates: [FIXED.rate],
    retried: false,
    steps: [],
    stoppedBy: 'end of the ladder',
    done: false,
  }));
  while (states.some((s) => !s.done)) {
    for (const state of states) {
      if (state.done) continue;
      const rate = state.rates.shift();
      if (rate === undefined) {
        state.done = true;
        continue;
      }
      if (Date.now() > deadline) {
        state.stoppedBy = 'time budget';
        state.done = true;
        continue;
      }
      const slices: LoadResult[] = [];
      for (let i = 0; i < STEP_SLICES; i++)
        slices.push(await measure(state.target, { ...SEARCH_STEP, rate }));
      const result = mergeSlices(slices);
      state.steps.push(row(result));
      const ok = passes(result);
      if (state.upward === undefined) {
        state.upward = ok;
        state.rates = ok ? LADDER.slice(start + 1) : LADDER.slice(0, start).reverse();
        if (ok) state.best = result;
      } else if (state.upward && ok) {
        state.best = result;
        state.retried = false;
      } else if (state.upward && !state.retried) {
        state.retried = true;
        state.rates.unshift(rate);
      } else if (state.upward) {
        state.stoppedBy = `p99 ≥ ${P99_LIMIT_MS} ms (or errors) twice at ${rate} msg/s`;
        state.done = true;
      } else if (ok) {
        state.best = result;
        state.stoppedBy = `first passing rate going down from ${FIXED.rate} msg/s`;
        state.done = true;
      }
    }
  }
  return states;
}

const sh = (cmd: string) => {
  try {
    return execSync(cmd, { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};
const f = (n: number) => n.toFixed(3);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');

async function main() {
  const started = Date.now();
  const wsPort = await freePort();
  const echo = await spawnService(
    'services/latency/src/main.ts',
    { PORT: String(wsPort), HOST: '127.0.0.1' },
    // A loaded machine takes its time to start a TypeScript server.
    { port: wsPort, timeoutMs: 120_000 },
  );
  const tcp = await startTcpBaseline();
  const ws = parseTarget(`ws://127.0.0.1:${wsPort}/echo`, undefined, 'ws echo');
  const sio = parseTarget(`http://127.0.0.1:${wsPort}/echo`, undefined, 'socket.io');
  const base = parseTarget(`tcp://127.0.0.1:${tcp.port}`, undefined, 'tcp echo');
  serverPids.set(ws.label, echo.child.pid);
  serverPids.set(sio.label, echo.child.pid);
  serverPids.set(base.label, tcp.child.pid);
  try {
    process.stderr.write(
      `fixed load: ${FIXED.connections} connections × ${FIXED.rate / FIXED.connections} msg/s\n`,
    );
    const slices = { ws: [] as LoadResult[], tcp: [] as LoadResult[], sio: [] as LoadResult[] };
    for (let round = 0; round < ROUNDS; round++) {
      slices.ws.push(await measure(ws, FIXED));
      slices.tcp.push(await measure(base, FIXED));
      slices.sio.push(await measure(sio, FIXED));
    }
    const fixedWs = mergeSlices(slices.ws);
    const fixedTcp = mergeSlices(slices.tcp);
    const fixedSio = mergeSlices(slices.sio);
    const deadline = started + BUDGET_MS;
    process.stderr.write(`search: highest rate with p99 < ${P99_LIMIT_MS} ms\n`);
    const [searchWs, searchTcp] = (await searchInTurns([ws, base], deadline)) as [SearchState, SearchState];

    const machine = {
      nproc: sh('nproc'),
      cpuModel: sh("lscpu | grep 'Model name' | sed 's/Model name: *//'"),
      node: process.version,
      loadAverageAtEnd: sh('cat /proc/loadavg'),
      // Whoever runs it says what else the machine was doing (the load average alone cannot tell).
      shared: process.env.BENCH_MACHINE_NOTE ?? 'not stated (set BENCH_MACHINE_NOTE)',
    };
    const raw = {
      createdAt: new Date().toISOString(),
      machine,
      payloadBytes: PAYLOAD,
      fixed: {
        spec: FIXED,
        rounds: ROUNDS,
        ws: row(fixedWs),
        tcp: row(fixedTcp),
        socketIo: row(fixedSio),
        slices: { ws: slices.ws.map(row), tcp: slices.tcp.map(row), socketIo: slices.sio.map(row) },
      },
      maxRate: {
        limitP99Ms: P99_LIMIT_MS,
        stepSpec: SEARCH_STEP,
        stepSlices: STEP_SLICES,
        ladder: LADDER,
        ws: {
          best: searchWs.best && row(searchWs.best),
          stoppedBy: searchWs.stoppedBy,
          steps: searchWs.steps,
        },
        tcp: {
          best: searchTcp.best && row(searchTcp.best),
          stoppedBy: searchTcp.stoppedBy,
          steps: searchTcp.steps,
        },
      },
      durationS: Math.round((Date.now() - started) / 1000),
    };

    // Socket.IO stays in the tables only: on this scale its curve would flatten the other two.
    const series = [
      { label: `ws echo @ ${FIXED.rate}/s`, histogram: fixedWs.histogram },
      { label: `tcp echo @ ${FIXED.rate}/s`, histogram: fixedTcp.histogram },
    ];
    if (searchWs.best) {
      series.push({ label: `ws echo @ ${searchWs.best.spec.rate}/s`, histogram: searchWs.best.histogram });
    }
    if (searchTcp.best) {
      series.push({ label: `tcp echo @ ${searchTcp.best.spec.rate}/s`, histogram: searchTcp.best.histogram });
    }
    await mkdir(resultsDir, { recursive: true });
    await writeFile(
      join(resultsDir, 'latency-echo.svg'),
      renderPercentilePlot(series, {
        title: 'Echo latency by percentile: ws echo server vs raw TCP echo (loopback)',
        subtitle: `${PAYLOAD} B payload, 20 connections, latency from intended send time, ${raw.createdAt}`,
      }),
    );
    await writeFile(join(resultsDir, 'latency-echo.json'), `${JSON.stringify(raw, null, 2)}\n`);
    await writeFile(join(resultsDir, 'latency-echo.md'), markdown(raw));
    process.stderr.write(`wrote ${resultsDir}/latency-echo.{md,json,svg} in ${raw.durationS} s\n`);
  } finally {
    await echo.kill('SIGTERM');
    tcp.child.kill('SIGTERM');
  }
}

type Raw = {
  createdAt: string;
  machine: Record<string, string>;
  fixed: {
    spec: LoadSpec;
    rounds: number;
    ws: Row;
    tcp: Row;
    socketIo: Row;
    slices: { ws: Row[]; tcp: Row[]; socketIo: Row[] };
  };
  maxRate: {
    limitP99Ms: number;
    ws: { best?: Row; stoppedBy: string; steps: Row[] };
    tcp: { best?: Row; stoppedBy: string; steps: Row[] };
  };
  durationS: number;
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianLine(name: string, rows: Row[], base: Row[]): string {
  const m = (rs: Row[], key: 'p50' | 'p99' | 'p99_9') => median(rs.map((r) => r.latencyMs[key]));
  return `| ${name} | ${f(m(rows, 'p50'))} | ${f(m(rows, 'p99'))} | ${f(m(rows, 'p99_9'))} | ${ratio(m(rows, 'p50'), m(base, 'p50'))} | ${ratio(m(rows, 'p99'), m(base, 'p99'))} | ${ratio(m(rows, 'p99_9'), m(base, 'p99_9'))} | ${rows.map((r) => r.latencyMs.p99.toFixed(1)).join(', ')} |`;
}

function markdown(raw: Raw): string {
  const line = (name: string, r: Row, base: Row, key: 'latencyMs' | 'serviceTimeMs') =>
    `| ${name} | ${r.rate} | ${f(r[key].p50)} | ${f(r[key].p99)} | ${f(r[key].p99_9)} | ${f(r[key].max)} | ${ratio(r[key].p50, base[key].p50)} | ${ratio(r[key].p99, base[key].p99)} | ${ratio(r[key].p99_9, base[key].p99_9)} | ${r.received} | ${r.errors} | ${r.serverCpuUsPerMsg} | ${r.clientCpuUsPerMsg} |`;
  const head =
    '| server | msg/s | p50 ms | p99 ms | p99.9 ms | max ms | p50 ratio | p99 ratio | p99.9 ratio | samples | errors | server CPU µs/msg | client CPU µs/msg |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const { ws, tcp, socketIo } = raw.fixed;
  const best = (s: { best?: Row; stoppedBy: string }) =>
    s.best
      ? `${s.best.rate} msg/s (p99 ${f(s.best.latencyMs.p99)} ms; search stopped: ${s.stoppedBy})`
      : `none of the rates tried (${s.stoppedBy})`;
  const maxRows =
    raw.maxRate.ws.best && raw.maxRate.tcp.best
      ? [
          head,
          line('ws echo', raw.maxRate.ws.best, raw.maxRate.tcp.best, 'latencyMs'),
          line('tcp echo (baseline)', raw.maxRate.tcp.best, raw.maxRate.tcp.best, 'latencyMs'),
        ].join('\n')
      : '(one side had no passing rate; see the JSON)';
  const steps = (name: string, s: { steps: Row[] }) =>
    s.steps
      .map(
        (r) =>
          `${name} ${r.rate}/s: slice p99s ${(r.sliceP99Ms ?? []).map((v) => v.toFixed(1)).join(' / ')} ms (median ${f(median(r.sliceP99Ms ?? [r.latencyMs.p99]))})`,
      )
      .join('; ') || 'none';
  return `# Latency lab: WebSocket echo server vs raw TCP echo

Measured ${raw.createdAt} by \`npm run bench -w @gavel/latency\` (services/latency/bench/echo-vs-tcp.ts)
in one run: the latency echo server (\`src/main.ts\`, ws with its native helpers, permessage-deflate off)
and a minimal Node \`net\` echo server (TCP_NODELAY, 4-byte length-prefixed frames, bench/tcp-echo-server.ts),
each in its own process, driven by the same load client in a third process over loopback.
Payload ${PAYLOAD} B. Latency is measured **from the intended send time** (coordinated-omission safe, so the
client's own timer lateness, up to ~1 ms with Node timers, is included); the "service time" table measures from
the actual send. Ratios are ws ÷ tcp.

## Machine

- nproc: ${raw.machine.nproc}; CPU: ${raw.machine.cpuModel}; Node ${raw.machine.node}
- load average at the end: ${raw.machine.loadAverageAtEnd}
- other work on the machine: ${raw.machine.shared}. On a 2-core VM, absolute tails are noisy; the side-by-side ratio is the figure to read.

## Fixed load: ${raw.fixed.spec.connections} connections × ${raw.fixed.spec.rate / raw.fixed.spec.connections} msg/s (${raw.fixed.spec.rate} msg/s)

${raw.fixed.rounds} interleaved rounds (ws, tcp, socket.io, ws, tcp, …) of ${raw.fixed.spec.durationS} s after ${raw.fixed.spec.warmupS} s warm-up each,
histograms merged per server, so that the shared machine's drifting load falls on all of them alike.

From intended send time, all rounds merged:

${head}
${line('ws echo', ws, tcp, 'latencyMs')}
${line('tcp echo (baseline)', tcp, tcp, 'latencyMs')}
${line('socket.io echo (for scale)', socketIo, tcp, 'latencyMs')}

Median over the ${raw.fixed.rounds} rounds of each round's percentile (robust to one round hit by a stall elsewhere on
the machine; ratios ws ÷ tcp):

| server | p50 ms | p99 ms | p99.9 ms | p50 ratio | p99 ratio | p99.9 ratio | p99 of each round (ms) |
|---|---:|---:|---:|---:|---:|---:|---|
${medianLine('ws echo', raw.fixed.slices.ws, raw.fixed.slices.tcp)}
${medianLine('tcp echo (baseline)', raw.fixed.slices.tcp, raw.fixed.slices.tcp)}
${medianLine('socket.io echo (for scale)', raw.fixed.slices.socketIo, raw.fixed.slices.tcp)}

From actual send time (service time, without the client's scheduling lateness):

${head}
${line('ws echo', ws, tcp, 'serviceTimeMs')}
${line('tcp echo (baseline)', tcp, tcp, 'serviceTimeMs')}
${line('socket.io echo (for scale)', socketIo, tcp, 'serviceTimeMs')}

CPU per message is user + system time of the server process (from /proc) and of the client process,
divided by every message of the run (warm-up included); unlike the latencies it barely depends on how busy
the shared machine was, so it is the steadiest measure of each stack's own cost.

## Highest rate with p99 < ${raw.maxRate.limitP99Ms} ms

20 connections; the first step measures 2000 msg/s again, then the rate ladder is walked upward while rates pass
(a failing step is tried a second time before it ends the search), or downward until one passes; ws and tcp take turns
step by step. Each step is ${STEP_SLICES} slices of ${SEARCH_STEP.durationS} s after ${SEARCH_STEP.warmupS} s warm-up and passes
when the **median slice's p99** is under ${P99_LIMIT_MS} ms with no errors ,
so that one slice hit by another engineer's build does not decide it. The p99 shown is of all slices merged.

- ws echo: ${best(raw.maxRate.ws)}
- tcp echo: ${best(raw.maxRate.tcp)}

${maxRows}

Steps tried: ${steps('ws', raw.maxRate.ws)}. ${steps('tcp', raw.maxRate.tcp)}.

## Plot

![percentile distribution](latency-echo.svg)

Raw figures: [latency-echo.json](latency-echo.json).
`;
}

await main();

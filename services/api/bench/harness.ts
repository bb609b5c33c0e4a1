import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, waitFor } from '@gavel/shared/testing';
import { processCpuMicros } from './proc-cpu.js';
import type { GeneratorMessage, LoadResult, LoadSpec } from './load-spec.js';

/** A server process under test: its pid is what /proc is read for. */
export interface BenchServer {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `node [nodeArgs] entry` and waits until GET /livez answers 200. */
export async function startServer(
  name: string,
  entry: string,
  port: number,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<BenchServer> {
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
      return (await fetch(`${url}/livez`)).ok;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: `${name} to listen` },
  );
  return {
    name,
    url,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The load generator process, reused for every run. */
export class LoadGenerator {
  private constructor(private readonly child: ChildProcess) {}

  /** Its process, for CPU readings: on a small machine the load takes cores from the server. */
  get pid(): number {
    return this.child.pid!;
  }

  static async start(): Promise<LoadGenerator> {
    const entry = fileURLToPath(new URL('./load-generator.ts', import.meta.url));
    const child = fork(entry, [], { execArgv: ['--conditions=source', '--import', 'tsx'], stdio: 'inherit' });
    await new Promise<void>((resolve, reject) => {
      child.once('message', (m: GeneratorMessage) =>
        m.type === 'ready' ? resolve() : reject(new Error(String(m.type))),
      );
      child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
    });
    return new LoadGenerator(child);
  }

  run(spec: LoadSpec): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      this.child.once('message', (m: GeneratorMessage) => {
        if (m.type === 'done') resolve(m.result);
        else reject(new Error(m.type === 'failed' ? m.error : 'unexpected message'));
      });
      this.child.send(spec);
    });
  }

  stop(): void {
    this.child.disconnect();
  }
}

/** One measured run: what the generator saw and what the server spent. */
export interface Measured {
  readonly answers: number;
  readonly perSecond: number;
  /** Server CPU (user + system) per answer, µs. */
  readonly cpuUsPerAnswer: number;
  /** Server CPU use over the run, in cores (1.0 = one core busy). */
  readonly cpuCores: number;
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly histogram: string;
  readonly steadyHistogram: string;
}

/** One run, with the CPU time of each process of interest read around it. */
export interface ProcessesMeasured {
  readonly result: LoadResult;
  /** From the first CPU reading to the last (the load, then `settle`), s. */
  readonly wallS: number;
  /** CPU (user + system) each process used over the run, µs, by the name it was given. */
  readonly cpuUs: Record<string, number>;
}

/**
 * Runs one load and reads the CPU time of every process in `pids` (name → pid) around it.
 * `settle` runs before the closing readings: the api's relay publishes the last bids after
 * their answers, and that work belongs to them.
 */
export async function measureProcesses(
  generator: LoadGenerator,
  pids: Readonly<Record<string, number>>,
  spec: LoadSpec,
  settle: () => Promise<void> = async () => undefined,
): Promise<ProcessesMeasured> {
  const names = Object.keys(pids);
  const before = names.map((n) => processCpuMicros(pids[n]!));
  const wallBefore = performance.now();
  const result = await generator.run(spec);
  await settle();
  const after = names.map((n) => processCpuMicros(pids[n]!));
  const wallS = (performance.now() - wallBefore) / 1000;
  return {
    result,
    wallS,
    cpuUs: Object.fromEntries(names.map((n, i) => [n, after[i]! - before[i]!])),
  };
}

/**
 * Runs one load and reads the server's CPU time around it. `settle` runs before the closing
 * reading: the api's relay publishes the last bids after their answers, and that work belongs
 * to them.
 */
export async function measure(
  generator: LoadGenerator,
  server: BenchServer,
  spec: LoadSpec,
  settle: () => Promise<void> = async () => undefined,
): Promise<Measured> {
  const { result, wallS, cpuUs } = await measureProcesses(
    generator,
    { server: server.child.pid! },
    spec,
    settle,
  );
  const cpu = cpuUs.server!;
  return {
    answers: result.answers,
    perSecond: Math.round(result.answers / result.seconds),
    cpuUsPerAnswer: result.answers > 0 ? cpu / result.answers : Number.NaN,
    cpuCores: cpu / 1e6 / wallS,
    statuses: result.statuses,
    errors: result.errors,
    histogram: result.histogram,
    steadyHistogram: result.steadyHistogram,
  };
}

// Shared with the broadcast benchmark.
export { latencySummary, median } from '@gavel/shared/testing';

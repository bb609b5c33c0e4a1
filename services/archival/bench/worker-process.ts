import { mkdirSync, readdirSync, statSync } from 'node:fs';
import pg from 'pg';
import { spawn } from 'node:child_process';
import { freePort, REPO_ROOT, waitFor } from '@gavel/shared/testing';
import { cpuMicros } from './process-cpu.js';

/** A worker build to measure: its entry file, relative to the repository root. */
export interface WorkerVariant {
  readonly label: string;
  readonly entry: string;
  /** Extra node options, e.g. V8 heap settings. @default [] */
  readonly nodeArgs?: readonly string[];
}

export interface RunningWorker {
  readonly pid: number;
  /** The main thread's CPU profile, once it exited, if it was started with one. */
  cpuProfile(): string | undefined;
  /** Ends it with SIGTERM (it drains, and writes its CPU profile) and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts the worker as its own process, as `npm run dev` does (node + tsx, workspace packages
 * from source), so that /proc/<pid> holds its CPU time alone, and waits until `readyPath`
 * answers. node 20 refuses --cpu-prof in NODE_OPTIONS, hence the arguments.
 */
export async function startWorkerProcess(
  variant: WorkerVariant,
  env: Record<string, string>,
  options: { readyPath?: string; cpuProfileDir?: string } = {},
): Promise<RunningWorker> {
  const port = await freePort();
  const profileArgs: string[] = [];
  if (options.cpuProfileDir) {
    mkdirSync(options.cpuProfileDir, { recursive: true });
    profileArgs.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`);
  }
  const child = spawn(
    process.execPath,
    [...(variant.nodeArgs ?? []), ...profileArgs, '--conditions=source', '--import', 'tsx', variant.entry],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    async () => {
      if (gone) throw new Error(`worker exited early:\n${output}`);
      return (await fetch(`http://127.0.0.1:${port}${options.readyPath ?? '/livez'}`)).ok;
    },
    { timeoutMs: 180_000, intervalMs: 50, what: `${variant.label} to answer` },
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('worker process has no pid');
  return {
    pid,
    cpuProfile() {
      const dir = options.cpuProfileDir;
      if (!dir) return undefined;
      // Every thread writes its own profile (tsx runs a loader thread); the main thread's is the
      // largest.
      const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
      files.sort((a, b) => statSync(`${dir}/${b}`).size - statSync(`${dir}/${a}`).size);
      return files[0] && `${dir}/${files[0]}`;
    },
    async stop() {
      if (!gone) child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`${variant.label} exited with ${code}:\n${output}`);
    },
  };
}

/**
 * CPU time of the PostgreSQL backends serving a database's archival connections (the server
 * runs on this host, so /proc shows them), by pid. Backends opened later count from zero.
 */
export async function backendCpu(admin: pg.ClientBase, database: string): Promise<Map<number, number>> {
  const res = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'gavel-archival'`,
    [database],
  );
  return new Map(res.rows.map((r) => [r.pid, cpuMicros(r.pid)]));
}

/** CPU the backends used between two backendCpu readings, in microseconds. */
export function backendCpuUsed(from: Map<number, number>, to: Map<number, number>): number {
  let used = 0;
  for (const [pid, us] of to) if (Number.isFinite(us)) used += us - (from.get(pid) ?? 0);
  return used;
}

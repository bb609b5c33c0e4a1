/**
 * How the api's benchmarks build, start and describe what they measure: one way for all of
 * them, so that their figures compare (contention.ts, cluster-scaling.ts).
 */
import { execSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { REPO_ROOT, TEST_NATS_URL, freePort, uniqueId } from '@gavel/shared/testing';
import { startServer, type BenchServer } from './harness.js';

/** The secret the benchmarks' api processes verify tokens with (and the benchmarks sign them). */
export const BENCH_AUTH_SECRET = 'bench-secret-0123456789abcdef0123';

/**
 * BENCH_API_ENV='{"OUTBOX_RELAY":"false"}' adds settings to every api process (experiments; the
 * reports say which were used).
 */
export const EXTRA_API_ENV = JSON.parse(process.env.BENCH_API_ENV ?? '{}') as Record<string, string>;

/** Output of a shell command, or '?' when it fails (a machine without lscpu, say). */
export function sh(command: string): string {
  try {
    return execSync(command, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

/** Builds @gavel/shared and the api (services/api/dist), unless the api is to run from source. */
export function buildApi(fromSource: boolean): void {
  if (fromSource) return;
  process.stderr.write('building @gavel/shared and @gavel/api ...\n');
  execSync('npm run build -w @gavel/shared && npm run build -w @gavel/api', {
    cwd: REPO_ROOT,
    stdio: 'ignore',
  });
}

/**
 * Starts one api process: its build (or its source, tsx), the outbox relay and the auction
 * closer on as in production, the per-user bid limit active but so high that it never refuses,
 * auctions never extended. `env` names its Redis, prefix, stream and mode.
 */
export async function startBenchApi(
  name: string,
  env: Record<string, string>,
  options: { fromSource: boolean; nodeArgs?: string[] },
): Promise<BenchServer> {
  const nodeArgs = options.nodeArgs ?? [];
  return startServer(
    name,
    options.fromSource ? 'services/api/src/main.ts' : 'services/api/dist/main.js',
    await freePort(),
    {
      HOST: '127.0.0.1',
      NATS_URL: TEST_NATS_URL,
      AUTH_SECRET: BENCH_AUTH_SECRET,
      // The limiter runs on every bid (its cost is part of the path) but never refuses one here.
      BID_RATE_LIMIT_PER_S: '1000000',
      EXTEND_WINDOW_S: '0',
      LOG_LEVEL: 'error',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      ...env,
      ...EXTRA_API_ENV,
    },
    options.fromSource ? ['--conditions=source', '--import', 'tsx', ...nodeArgs] : nodeArgs,
  );
}

/** Opens an auction on the api (six hours long) and returns its id. */
export async function openItem(url: string, token: string, startingPrice = '1.00'): Promise<string> {
  const id = uniqueId('item');
  const res = await fetch(`${url}/api/v1/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      id,
      title: 'bench',
      startingPrice,
      minIncrement: '0.01',
      endsAt: Date.now() + 6 * 3600_000,
    }),
  });
  if (res.status !== 201) throw new Error(`create item: ${res.status} ${await res.text()}`);
  return id;
}

export const bidPath = (item: string) => `/api/v1/items/${item}/bid`;

export const loadAverage = () => loadavg().map((n) => n.toFixed(2));

/** The machine a benchmark ran on; `loadAverage.after` is filled in at the end. */
export function describeMachine(loadBefore: string[], note: string) {
  return {
    cpu: sh("lscpu | sed -n 's/^Model name: *//p'"),
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: sh('uname -r'),
    node: process.version,
    redis: /v=(\S+)/.exec(sh('redis-server --version'))?.[1] ?? '?',
    nats: sh('nats-server --version'),
    loadAverage: { before: loadBefore, after: [] as string[] },
    /** The busiest processes at the start (ps: %CPU since each started, command). */
    // Command names only (as bench/src/machine.ts): arguments carry this checkout's path.
    busiestAtStart: sh('ps -eo pcpu=,comm= --sort=-pcpu | head -8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
    note,
  };
}

export type BenchMachine = ReturnType<typeof describeMachine>;

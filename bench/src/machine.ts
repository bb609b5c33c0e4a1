import { execSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';

/** The machine a run measured on, and what else it was doing. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly redis: string;
  readonly postgres: string;
  readonly nats: string;
  readonly loadAverageBefore: readonly string[];
  loadAverageAfter: readonly string[];
  /** The busiest other processes at the start (ps: %CPU since each started, command). */
  readonly busiestAtStart: readonly string[];
  /** What the person running it says (--note). */
  readonly note: string;
}

function sh(command: string): string {
  try {
    return execSync(command, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

const load = () => loadavg().map((n) => n.toFixed(2));

export function describeMachine(note: string): Machine {
  return {
    cpu: sh("lscpu | sed -n 's/^Model name: *//p'") || (cpus()[0]?.model ?? '?'),
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: sh('uname -r'),
    node: process.version,
    redis: /v=(\S+)/.exec(sh('redis-server --version'))?.[1] ?? '?',
    postgres: sh("psql -h 127.0.0.1 -U postgres -Atc 'SHOW server_version' postgres"),
    nats: sh('nats-server --version'),
    loadAverageBefore: load(),
    loadAverageAfter: [],
    busiestAtStart: sh('ps -eo pcpu=,comm= --sort=-pcpu | head -8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
    note,
  };
}

export function finishMachine(m: Machine): void {
  m.loadAverageAfter = load();
}

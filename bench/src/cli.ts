import { Command, InvalidArgumentError, Option } from 'commander';
import { join } from 'node:path';
import { REPO_ROOT } from '@gavel/shared/testing';
import type { Target } from './experiment.js';

export const EXPERIMENTS = ['contention', 'fanout', 'archival', 'latency', 'resilience'] as const;
export type ExperimentName = (typeof EXPERIMENTS)[number];

export interface BenchOptions {
  readonly quick: boolean;
  readonly only: readonly ExperimentName[];
  readonly target: Target | undefined;
  readonly outDir: string;
  readonly note: string;
}

function experimentList(value: string): ExperimentName[] {
  const names = value.split(',').map((s) => s.trim());
  for (const n of names)
    if (!(EXPERIMENTS as readonly string[]).includes(n))
      throw new InvalidArgumentError(`unknown experiment "${n}" (one of ${EXPERIMENTS.join(', ')})`);
  return names as ExperimentName[];
}

function url(value: string): string {
  try {
    return new URL(value).toString().replace(/\/$/, '');
  } catch {
    throw new InvalidArgumentError(`not a URL: ${value}`);
  }
}

/** Parses the command line; a bad option exits 2 with one line saying which. */
export function parseCli(argv: readonly string[]): BenchOptions {
  const program = new Command('npm run bench --')
    .description(
      "Gavel's benchmarks: seed 004's experiments, each beside a baseline, reports in docs/results",
    )
    .option('--quick', 'a smoke run under a minute (reports go to .gavel/bench/quick unless --out)', false)
    .addOption(
      new Option('--only <experiments>', `comma-separated subset of: ${EXPERIMENTS.join(', ')}`).argParser(
        experimentList,
      ),
    )
    .option('--target <url>', 'measure a deployed stack (its api and broadcast behind this base URL)', url)
    .option('--target-api <url>', 'the deployed api, when not at --target', url)
    .option('--target-broadcast <url>', 'the deployed broadcast, when not at --target', url)
    .option('--target-echo <url>', 'the latency echo endpoint (default: ws://<target host>:8090/echo)', url)
    .option(
      '--auth-secret <secret>',
      'HS256 secret of the target stack, to sign bidder tokens (or GAVEL_AUTH_SECRET)',
    )
    .option('--out <dir>', 'where the reports go (default: docs/results, or .gavel/bench/quick with --quick)')
    .option('--note <text>', 'what else ran on the machine, for the report (or BENCH_MACHINE_NOTE)')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse(argv, { from: 'node' });
  const o = program.opts<{
    quick: boolean;
    only?: ExperimentName[];
    target?: string;
    targetApi?: string;
    targetBroadcast?: string;
    targetEcho?: string;
    authSecret?: string;
    out?: string;
    note?: string;
  }>();
  const base = o.target;
  const target: Target | undefined =
    base || o.targetApi || o.targetBroadcast || o.targetEcho
      ? {
          api: o.targetApi ?? base ?? '',
          broadcast: o.targetBroadcast ?? base ?? '',
          echo: o.targetEcho ?? (base ? `ws://${new URL(base).hostname}:8090/echo` : ''),
          authSecret: o.authSecret ?? process.env.GAVEL_AUTH_SECRET,
        }
      : undefined;
  return {
    quick: o.quick,
    only: o.only ?? [...EXPERIMENTS],
    target,
    outDir: o.out ?? join(REPO_ROOT, o.quick ? '.gavel/bench/quick' : 'docs/results'),
    note:
      o.note ??
      process.env.BENCH_MACHINE_NOTE ??
      'not stated (pass --note): the load generators, the servers, Redis, PostgreSQL and NATS shared the same cores',
  };
}

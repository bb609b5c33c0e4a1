import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BENCH_RESULTS_DIR_ENV, BENCH_SETTINGS_ENV, REPO_ROOT } from '@gavel/shared/testing';

/**
 * `npm run bench:cluster -w services/api -- --quick` end to end: a private Redis node and a
 * private 3-primary Redis Cluster, the api built and run against each, autocannon in its own
 * process, the shared NATS. A smoke run on a shared machine: the test checks the report's shape
 * and sanity (both backends measured, every figure a positive number, no gap), never speed.
 */

interface Summary {
  backend: string;
  apiReplicas: number;
  acceptedPerS: number;
  apiUsPerBid: number;
  redisUsPerBid: number;
  busiestUsPerOwnBid: number;
  primaryUsPerOwnBid: number;
  commandsPerBid: number;
  latency: { p50: number; p99: number };
  gaps: number;
  idle?: { apiCores: number; redisCommandsPerS: number };
}

interface Report {
  quick: boolean;
  authMode: string;
  machine: { cores: number; node: string; redis: string; loadAverage: { before: string[]; after: string[] } };
  backends: Record<
    string,
    { nodes: Array<{ port: number; role: string }>; items: number; itemsPerPrimary: Record<string, number> }
  >;
  summary: Summary[];
  runs: Array<{
    backend: string;
    accepted: number;
    statuses: Record<string, number>;
    nodes: Array<{ port: number; role: string; cpuUs: number; bids: number }>;
    check: {
      items: number;
      accepted: number;
      answered: number;
      unanswered: number;
      gaps: number;
      answerMismatch: number;
    };
  }>;
}

function runBench(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '-s', 'bench:cluster', '-w', 'services/api', '--', '--quick'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      process.stderr.write(d);
    });
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

describe('npm run bench:cluster -- --quick', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const outDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gavel-cluster-bench-'));
    dirs.push(dir);
    return dir;
  };

  it('refuses fewer items than connections (they would race on items) and writes nothing', async () => {
    const out = await outDir();
    const { code, stderr } = await runBench({
      [BENCH_RESULTS_DIR_ENV]: out,
      [BENCH_SETTINGS_ENV]: JSON.stringify({ items: 4, connections: 16 }),
    });
    expect(code).toBe(2);
    expect(stderr).toContain('items (4) must be at least connections (16)');
    expect(await readdir(out)).toEqual([]);
  });

  it(
    'measures one node and the cluster, every figure positive, every item gapless',
    async () => {
      const out = await outDir();
      const { code } = await runBench({ [BENCH_RESULTS_DIR_ENV]: out });
      expect(code).toBe(0);
      const report = JSON.parse(await readFile(join(out, 'redis-cluster-scaling.json'), 'utf8')) as Report;
      expect(report.quick).toBe(true);
      expect(report.authMode).toBe('jwt');
      expect(report.machine.cores).toBeGreaterThanOrEqual(1);
      expect(report.machine.node).toBe(process.version);
      expect(report.machine.redis).toMatch(/^\d+\.\d+/);
      expect(report.machine.loadAverage.after).toHaveLength(3);

      // Both backends, the cluster with three primaries each serving some of the items.
      expect(report.backends.single!.nodes).toHaveLength(1);
      const primaries = report.backends.cluster!.nodes.filter((n) => n.role === 'primary');
      expect(primaries).toHaveLength(3);
      for (const p of primaries) expect(report.backends.cluster!.itemsPerPrimary[p.port]).toBeGreaterThan(0);
      expect(report.summary.map((s) => s.backend).sort()).toEqual(['cluster', 'single']);

      for (const s of report.summary) {
        for (const key of [
          'acceptedPerS',
          'apiUsPerBid',
          'redisUsPerBid',
          'busiestUsPerOwnBid',
          'primaryUsPerOwnBid',
          'commandsPerBid',
        ] as const)
          expect(s[key], `${s.backend} ${key}`).toBeGreaterThan(0);
        expect(s.latency.p99).toBeGreaterThanOrEqual(s.latency.p50);
        expect(s.gaps).toBe(0);
        expect(s.idle?.apiCores).toBeGreaterThanOrEqual(0);
      }
      for (const run of report.runs) {
        // Each item has one bidder raising its own bid: none is refused (no 4xx); a 5xx only if
        // the machine is so loaded that a Redis command times out, and then rarely.
        const answers = Object.values(run.statuses).reduce((a, b) => a + b, 0);
        expect(Object.keys(run.statuses).filter((s) => s.startsWith('4'))).toEqual([]);
        expect(run.statuses['201']! / answers).toBeGreaterThan(0.99);
        expect(run.accepted).toBeGreaterThan(0);
        expect(run.check).toMatchObject({ gaps: 0, answerMismatch: 0 });
        expect(run.check.answered).toBeGreaterThanOrEqual(run.accepted);
        expect(run.check.unanswered).toBeGreaterThanOrEqual(0);
        // Every primary served bids and spent CPU on them.
        for (const n of run.nodes.filter((x) => x.role === 'primary')) {
          expect(n.bids, `${run.backend} ${n.port}`).toBeGreaterThan(0);
          expect(n.cpuUs, `${run.backend} ${n.port}`).toBeGreaterThan(0);
        }
      }

      const md = await readFile(join(out, 'redis-cluster-scaling.md'), 'utf8');
      for (const heading of [
        '# Bids on one Redis node and on a Redis Cluster',
        '**Machine:**',
        "## The cluster's shards",
        '## Reading',
        'What the per-shard CPU implies for ElastiCache',
        '## What limits next',
      ])
        expect(md).toContain(heading);
      expect(md).not.toMatch(/NaN|undefined/);
    },
    15 * 60_000,
  );
});

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@gavel/shared/testing';

/**
 * `npm run bench -- --quick` end to end: every experiment runs against the real Redis, NATS and
 * PostgreSQL (and its own ones for resilience), and the report has every section, figures that
 * are real numbers, and its plots. A smoke run on a shared machine: the test checks shape and
 * sanity, never speed.
 */
describe('npm run bench -- --quick', () => {
  let out = '';
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it(
    'writes bench.md, bench.json and the plots, each experiment with its baseline beside it',
    async () => {
      out = await mkdtemp(join(tmpdir(), 'gavel-bench-quick-'));
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(
          'npm',
          ['run', '-s', 'bench', '--', '--quick', '--out', out, '--note', 'the bench quick test'],
          {
            cwd: REPO_ROOT,
            stdio: ['ignore', 'ignore', 'inherit'],
          },
        );
        child.once('exit', resolve);
      });
      expect(code).toBe(0);

      const report = JSON.parse(await readFile(join(out, 'bench.json'), 'utf8')) as {
        quick: boolean;
        machine: { cores: number; node: string; note: string; loadAverageAfter: string[] };
        experiments: Array<{
          name: string;
          status: string;
          reason?: string;
          headlines: Array<{
            what: string;
            value: number;
            baselineValue: number;
            ratio: number;
            met?: boolean;
          }>;
          tables: Array<{ rows: unknown[][] }>;
          plots: Array<{ file: string }>;
        }>;
      };
      expect(report.quick).toBe(true);
      expect(report.machine.cores).toBeGreaterThanOrEqual(1);
      expect(report.machine.node).toBe(process.version);
      expect(report.machine.note).toBe('the bench quick test');
      expect(report.machine.loadAverageAfter).toHaveLength(3);
      expect(report.experiments.map((e) => [e.name, e.status, e.reason])).toEqual(
        ['contention', 'fanout', 'archival', 'latency', 'resilience'].map((n) => [n, 'ok', undefined]),
      );

      const byName = Object.fromEntries(report.experiments.map((e) => [e.name, e]));
      for (const e of report.experiments) {
        expect(e.headlines.length, e.name).toBeGreaterThan(0);
        expect(
          e.tables.every((t) => t.rows.length > 0),
          e.name,
        ).toBe(true);
        expect(e.plots.length, e.name).toBeGreaterThan(0);
        for (const p of e.plots)
          expect(await readFile(join(out, p.file), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
      }
      // CPU per operation beside a baseline measured in the same run: both real, positive numbers.
      const cpuHeadlines = [
        byName.contention!.headlines.find((h) => h.what === 'accepted bid, jwt mode'),
        byName.fanout!.headlines.find((h) => h.what.startsWith('fan-out CPU per delivery, Socket.IO')),
        byName.fanout!.headlines.find((h) => h.what.startsWith('fan-out CPU per delivery, /ws')),
        byName.archival!.headlines.find((h) => h.what.startsWith('archival CPU per event')),
        byName.latency!.headlines.find((h) => h.what.startsWith('echo server CPU per message')),
        byName.resilience!.headlines.find((h) => h.what.startsWith('api CPU per accepted bid')),
      ];
      for (const h of cpuHeadlines) {
        expect(h, 'a CPU headline is missing').toBeDefined();
        expect(h!.value, h!.what).toBeGreaterThan(0);
        expect(h!.baselineValue, h!.what).toBeGreaterThan(0);
        expect(Number.isFinite(h!.ratio), h!.what).toBe(true);
      }
      // The resilience run lost nothing, whatever was killed.
      expect(
        byName.resilience!.headlines.find((h) => h.what.startsWith('accepted bids missing')),
      ).toMatchObject({
        value: 0,
        met: true,
      });

      const md = await readFile(join(out, 'bench.md'), 'utf8');
      for (const heading of [
        '## Machine',
        '## Headline figures',
        'seed 004 experiment 1',
        'seed 004 experiment 2',
        'seed 004 experiment 3',
      ])
        expect(md).toContain(heading);
      expect(md).not.toMatch(/\| NaN |undefined/);
      // Each service benchmark's own report lands beside the harness's.
      const files = await readdir(out);
      for (const f of [
        'bid-contention.md',
        'broadcast-fanout.md',
        'archival-throughput.md',
        'latency-echo.md',
        'resilience.json',
      ])
        expect(files).toContain(f);
    },
    20 * 60_000,
  );
});

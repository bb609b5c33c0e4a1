import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, freePort, waitFor } from '@gavel/shared/testing';
import { startEchoServer } from './support/echo-servers.js';

describe('gavel-latency --loop --serve-metrics (Deployment mode)', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  beforeAll(async () => {
    echo = await startEchoServer();
  });
  afterAll(() => echo.close());

  it(
    'repeats runs, logs each summary, exports its histograms on /metrics and stops on SIGTERM',
    { timeout: 90_000 },
    async () => {
      const port = await freePort();
      const child = spawn(
        process.execPath,
        [
          '--conditions=source',
          '--import',
          'tsx',
          'services/latency/src/cli.ts',
          '-t',
          `ws://127.0.0.1:${echo.port}/echo`,
          '-l',
          'loopback',
          '-c',
          '2',
          '-r',
          '100',
          '-w',
          '0',
          '-d',
          '1',
          '--loop',
          '--serve-metrics',
          String(port),
        ],
        { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      try {
        // Ready once a run succeeded; two completed runs prove it loops.
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, { timeoutMs: 60_000 });
        await waitFor(() => stdout.split('\n').filter((l) => l.includes('"run complete"')).length >= 2, {
          timeoutMs: 60_000,
          what: `two runs\n${stdout}`,
        });
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const count = /gavel_latency_client_latency_seconds_count\{[^}]*target="loopback"[^}]*\} (\d+)/.exec(
          metrics,
        );
        expect(Number(count?.[1])).toBeGreaterThanOrEqual(200);
        expect(metrics).toMatch(
          /gavel_latency_client_last_run_percentile_seconds\{[^}]*percentile="99"[^}]*\} [\d.e-]+/,
        );
        expect(metrics).toMatch(/gavel_latency_client_messages_total\{[^}]*outcome="lost"[^}]*\} 0/);

        const line = stdout.split('\n').find((l) => l.includes('"run complete"'))!;
        const logged = JSON.parse(line);
        expect(logged.summary[0]).toMatchObject({ label: 'loopback', received: 100, errors: 0 });
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
    },
  );
});

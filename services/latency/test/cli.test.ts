import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@gavel/shared/testing';
import { startDelayingServer, startEchoServer, type MisbehavingServer } from './support/echo-servers.js';
import { runCli } from './support/run-cli.js';

/** Checks an .hgrm file has HdrHistogram's layout; returns its rows and total count. */
function parseHgrm(text: string) {
  const lines = text.split('\n');
  expect(lines[0]!.trim().split(/\s+/)).toEqual(['Value', 'Percentile', 'TotalCount', '1/(1-Percentile)']);
  const rows = lines
    .filter((l) => /^\s+\d/.test(l))
    .map((l) => l.trim().split(/\s+/).map(Number))
    .map(([value, percentile, count]) => ({ value: value!, percentile: percentile!, count: count! }));
  expect(rows.length).toBeGreaterThan(10);
  for (let i = 1; i < rows.length; i++) {
    expect(rows[i]!.percentile).toBeGreaterThanOrEqual(rows[i - 1]!.percentile);
    expect(rows[i]!.value).toBeGreaterThanOrEqual(rows[i - 1]!.value);
    expect(rows[i]!.count).toBeGreaterThanOrEqual(rows[i - 1]!.count);
  }
  expect(rows.at(-1)!.percentile).toBe(1);
  const total = /#\[Max\s+=\s+([\d.]+), Total count\s+=\s+(\d+)\]/.exec(text);
  expect(total).not.toBeNull();
  return { rows, max: Number(total![1]), totalCount: Number(total![2]) };
}

describe('gavel-latency run (spawned CLI)', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let slow: MisbehavingServer;
  let out: string;
  beforeAll(async () => {
    echo = await startEchoServer();
    slow = await startDelayingServer(10, 50);
    out = await mkdtemp(join(tmpdir(), 'gavel-latency-'));
  });
  afterAll(async () => {
    await echo.close();
    await slow.close();
    await rm(out, { recursive: true, force: true });
  });

  it(
    'compares two targets side by side and writes a JSON summary, .hgrm files and an SVG plot',
    { timeout: 60_000 },
    async () => {
      const result = await runCli([
        '--target',
        `ws://127.0.0.1:${echo.port}/echo`,
        '--label',
        'direct',
        '--target',
        slow.url,
        '--label',
        'slow hop',
        '--connections',
        '4',
        '--rate',
        '200',
        '--payload',
        '100',
        '--warmup',
        '0.5',
        '--duration',
        '2',
        '--out',
        out,
        '--json',
      ]);
      expect(result.stderr).not.toMatch(/gavel-latency: error/);
      expect(result.code).toBe(0);

      // stdout carries the JSON summary alone; the table went to stderr.
      const summary = JSON.parse(result.stdout);
      expect(result.stderr).toMatch(/direct\s+[\d.]+/);
      expect(result.stderr).toMatch(/× baseline/);
      expect(summary).toMatchObject({
        tool: 'gavel-latency',
        mode: 'echo',
        load: { connections: 4, rate: 200, payloadBytes: 100 },
      });
      expect(summary.targets.map((t: { label: string }) => t.label)).toEqual(['direct', 'slow hop']);
      const [direct, hop] = summary.targets;
      for (const t of [direct, hop]) {
        expect(t.received).toBe(400);
        expect(t.errors).toBe(0);
        expect(t.latencyMs.count).toBe(400);
      }
      expect(direct.ratioToBaseline).toBeUndefined();
      // The slow hop's tail is the 50 ms delay, and its ratio to the baseline says so.
      expect(hop.latencyMs.p99).toBeGreaterThanOrEqual(50);
      expect(hop.ratioToBaseline.p99).toBeCloseTo(hop.latencyMs.p99 / direct.latencyMs.p99, 1);

      const files = (await readdir(out)).sort();
      expect(files).toEqual(['latency-direct.hgrm', 'latency-slow-hop.hgrm', 'latency.json', 'latency.svg']);
      expect(JSON.parse(await readFile(join(out, 'latency.json'), 'utf8'))).toMatchObject({
        plot: 'latency.svg',
        targets: [{ hgrm: 'latency-direct.hgrm' }, { hgrm: 'latency-slow-hop.hgrm' }],
      });

      const hgrm = parseHgrm(await readFile(join(out, 'latency-slow-hop.hgrm'), 'utf8'));
      expect(hgrm.totalCount).toBe(400);
      expect(hgrm.max).toBeGreaterThanOrEqual(50);
      expect(hgrm.max).toBeCloseTo(hop.latencyMs.max, 0);

      const svg = await readFile(join(out, 'latency.svg'), 'utf8');
      expect(XMLValidator.validate(svg)).toBe(true);
      const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
      expect(doc.svg['@_xmlns']).toBe('http://www.w3.org/2000/svg');
      const lines = [doc.svg.polyline].flat();
      expect(lines).toHaveLength(2);
      for (const line of lines) expect(line['@_points'].split(' ').length).toBeGreaterThan(100);
      for (const label of ['direct', 'slow hop', '99.9%', '50%', 'latency (ms)'])
        expect(svg).toContain(label);
    },
  );

  it('prints the percentile table on stdout without --json', { timeout: 60_000 }, async () => {
    const result = await runCli([
      '-t',
      `ws://127.0.0.1:${echo.port}`,
      '-c',
      '2',
      '-r',
      '100',
      '-w',
      '0',
      '-d',
      '1',
      '--no-progress',
    ]);
    expect(result.code).toBe(0);
    const [head, row] = result.stdout.trim().split('\n');
    expect(head).toMatch(/target\s+p50\s+p90\s+p99\s+p99\.9\s+p99\.99\s+max\s+count\s+errors\s+rate\/s/);
    expect(row).toMatch(new RegExp(`^ws 127\\.0\\.0\\.1:${echo.port}/echo\\s+[\\d.]+`));
    expect(row!.trim().split(/\s+/).at(-3)).toBe('100');
  });

  // Each spawn loads the CLI from source; the full list of bad flags is checked in-process in
  // cli-options.test.ts, these prove the process-level contract: message on stderr, exit 2.
  it.each([
    [['-t', 'ws://127.0.0.1:1/echo', '-r', '0'], /--rate must be greater than 0/],
    [['-t', 'ws://127.0.0.1:1/echo', '-d', '3601'], /--duration must be at most 3600 s/],
    [['-t', 'ws://127.0.0.1:1/echo', '-s', '8'], /--payload must be at least 24 bytes/],
    [['-t', 'not a url'], /bad target URL "not a url"/],
  ])('refuses %j with a message and exit 2', { timeout: 60_000 }, async (args, message) => {
    const result = await runCli(args);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
  });

  it('says which target is unreachable and exits 1', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const result = await runCli([
      '-t',
      `ws://127.0.0.1:${port}/echo`,
      '-d',
      '1',
      '--connect-timeout',
      '2000',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`cannot connect to ws://127\\.0\\.0\\.1:${port}/echo \\(ws\\): .*ECONNREFUSED`),
    );
  });

  it('says when the e2e api is unreachable and exits 1', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const result = await runCli(['e2e', '--api', `http://127.0.0.1:${port}`, '-d', '1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`cannot reach the api at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`),
    );
  });
});

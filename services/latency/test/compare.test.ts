import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type LatencyLab } from '@gavel/shared';
import { freePort } from '@gavel/shared/testing';
import { createAgentServer } from '../src/agent/agent-server.js';
import { startDelayingServer, type MisbehavingServer } from './support/echo-servers.js';
import { runCli } from './support/run-cli.js';

/**
 * The compare mode over the latency lab's seven paths, each played by a labelled local echo
 * server: the four in-cluster paths measured by the CLI itself, the three client-VPC paths by a
 * real agent it drives over HTTP. Each stand-in's delay shows which one answered.
 */
const PATHS = [
  { label: 'pod-ip', from: 'cluster', delayMs: 0 },
  { label: 'clusterip', from: 'cluster', delayMs: 0 },
  { label: 'nlb', from: 'cluster', delayMs: 0 },
  { label: 'alb', from: 'cluster', delayMs: 20 },
  { label: 'nlb-peering', from: 'client-vpc', delayMs: 0 },
  { label: 'alb-peering', from: 'client-vpc', delayMs: 40 },
  { label: 'privatelink', from: 'client-vpc', delayMs: 60 },
] as const;
const CONNECTIONS = 4;

describe('gavel-latency compare (spawned CLI, stand-in servers, a real agent)', () => {
  const servers = new Map<string, MisbehavingServer>();
  let agent: ReturnType<typeof createAgentServer>;
  let agentUrl: string;
  let dir: string;
  let targetsFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gavel-compare-'));
    for (const path of PATHS) {
      // Every 10th message of a delayed stand-in comes back late: its p99 is the delay.
      servers.set(path.label, await startDelayingServer(10, path.delayMs));
    }
    agent = createAgentServer({
      targets: PATHS.filter((p) => p.from === 'client-vpc').map((p) => ({
        label: p.label,
        url: servers.get(p.label)!.url,
      })),
      logger: createLogger('agent-test', 'silent'),
    });
    await agent.listen({ port: 0, host: '127.0.0.1' });
    agentUrl = `http://127.0.0.1:${(agent.server.address() as AddressInfo).port}`;
    const lab: LatencyLab = {
      clientVpcCidr: '10.1.0.0/16',
      targetGroupArns: {
        nlb: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nlb/1',
        alb: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/alb/2',
      },
      agentUrl,
      targets: PATHS.map((p) => ({
        label: p.label,
        // The agent's paths are its own business; the file's URL is what the platform says.
        url: p.from === 'cluster' ? servers.get(p.label)!.url : `ws://${p.label}.example.internal:8090/echo`,
        from: p.from,
        description: `stand-in for ${p.label}`,
      })),
    };
    // As `npm run outputs -w platform` writes it: the lab inside the platform outputs.
    targetsFile = join(dir, 'platform-outputs.json');
    await writeFile(targetsFile, JSON.stringify({ stack: 'dev', clusterName: 'gavel-dev', latencyLab: lab }));
  });
  afterAll(async () => {
    await agent.close();
    for (const server of servers.values()) await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'measures every path in turn with the same load and writes one report beside the pod-ip baseline',
    { timeout: 240_000 },
    async () => {
      const out = join(dir, 'report');
      const result = await runCli([
        'compare',
        '--targets-file',
        targetsFile,
        '-c',
        String(CONNECTIONS),
        '-r',
        '200',
        '-w',
        '0.5',
        '-d',
        '2',
        '-o',
        out,
        '--json',
      ]);
      expect(result.stderr).not.toMatch(/gavel-latency: error/);
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout);
      expect(summary).toMatchObject({ tool: 'gavel-latency', mode: 'compare', agentUrl });
      expect(summary.targets.map((t: { label: string; from: string }) => [t.label, t.from])).toEqual(
        PATHS.map((p) => [p.label, p.from]),
      );
      for (const [i, t] of summary.targets.entries()) {
        expect(t.received, t.label).toBe(400);
        expect(t.errors, t.label).toBe(0);
        expect(t.histogram.length, t.label).toBeGreaterThan(10);
        if (i === 0) expect(t.ratioToBaseline).toBeUndefined();
        else expect(t.ratioToBaseline.p99).toBeCloseTo(t.latencyMs.p99 / summary.targets[0].latencyMs.p99, 1);
      }
      // Each path was answered by its own stand-in, once, with the connections asked for.
      for (const path of PATHS)
        expect(servers.get(path.label)!.connectionsSeen(), path.label).toBe(CONNECTIONS);
      const byLabel = Object.fromEntries(summary.targets.map((t: { label: string }) => [t.label, t]));
      for (const path of PATHS.filter((p) => p.delayMs > 0)) {
        expect(byLabel[path.label].latencyMs.p99, path.label).toBeGreaterThanOrEqual(path.delayMs);
      }
      // The table names each path's vantage and crossing; the baseline is the first row.
      expect(result.stderr).toMatch(/^target\s+p50/m);
      expect(result.stderr).toMatch(/^pod-ip\s+[\d.]+/m);
      expect(result.stderr).toMatch(/privatelink\s+from client-vpc: stand-in for privatelink/);

      expect((await readdir(out)).sort()).toEqual(
        [...PATHS.map((p) => `latency-${p.label}.hgrm`), 'latency.json', 'latency.svg'].sort(),
      );
      const svg = await readFile(join(out, 'latency.svg'), 'utf8');
      expect(XMLValidator.validate(svg)).toBe(true);
      const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
      expect([doc.svg.polyline].flat()).toHaveLength(PATHS.length);
      for (const path of PATHS) expect(svg).toContain(path.label);

      // The compare Job's log ends with the summary: `report` redraws the same report from it.
      const log = join(dir, 'job.log');
      await writeFile(log, `privatelink: measuring from the client VPC\n${result.stdout}`);
      const again = join(dir, 'again');
      const redrawn = await runCli(['report', log, '-o', again]);
      expect(redrawn.stderr).toBe('');
      expect(redrawn.code).toBe(0);
      const table = result.stderr.split('\n').filter((l) => /^[a-z-]+\s+\d/.test(l));
      for (const row of table) expect(redrawn.stdout).toContain(row);
      const redrawnSvg = await readFile(join(again, 'latency.svg'), 'utf8');
      expect([new XMLParser().parse(redrawnSvg).svg.polyline].flat()).toHaveLength(PATHS.length);
      const hgrm = await readFile(join(again, 'latency-privatelink.hgrm'), 'utf8');
      expect(hgrm).toMatch(/Total count\s+=\s+400\]/);
    },
  );

  it(
    'measures only the paths --only names, in interleaved rounds merged per path',
    { timeout: 180_000 },
    async () => {
      const before = (label: string) => servers.get(label)!.connectionsSeen();
      const seen = { 'pod-ip': before('pod-ip'), privatelink: before('privatelink') };
      const result = await runCli([
        'compare',
        '--targets-file',
        targetsFile,
        '--only',
        'privatelink,pod-ip',
        '--rounds',
        '2',
        '-c',
        '2',
        '-r',
        '100',
        '-w',
        '0',
        '-d',
        '1',
        '--json',
      ]);
      expect(result.stderr).not.toMatch(/gavel-latency: error/);
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout);
      expect(summary.rounds).toBe(2);
      const [podIp, privatelink] = summary.targets;
      expect([podIp.label, privatelink.label]).toEqual(['pod-ip', 'privatelink']);
      // Two rounds of 1 s at 100 msg/s each, merged.
      for (const t of [podIp, privatelink]) {
        expect(t.received).toBe(200);
        expect(t.latencyMs.count).toBe(200);
      }
      expect(before('pod-ip') - seen['pod-ip']).toBe(4);
      expect(before('privatelink') - seen.privatelink).toBe(4);
      // Interleaved: pod-ip's second round ran after privatelink's first.
      expect(Date.parse(podIp.finishedAt)).toBeGreaterThan(Date.parse(privatelink.startedAt));
      expect(result.stderr).toMatch(/privatelink \(round 1 of 2\)[\s\S]*privatelink \(round 2 of 2\)/);
    },
  );

  it.each([
    [
      'platform outputs without a latency lab',
      { stack: 'dev', clusterName: 'gavel-dev' },
      [],
      /platform outputs without a latencyLab block: turn on latencyLabEnabled/,
    ],
    ['a target with a bad vantage', 'bad-vantage', [], /targets\.0\.from/],
    [
      'an unknown --only label',
      'good',
      ['--only', 'nlb,transit'],
      /--only names transit, which the targets file lacks/,
    ],
  ])('refuses %s with a message and exit 2', { timeout: 120_000 }, async (_what, content, extra, message) => {
    const file = join(dir, `targets-${Math.random().toString(36).slice(2)}.json`);
    if (content === 'good') {
      await writeFile(file, await readFile(targetsFile, 'utf8'));
    } else if (content === 'bad-vantage') {
      const lab = JSON.parse(await readFile(targetsFile, 'utf8')).latencyLab;
      lab.targets[0].from = 'transit-vpc';
      await writeFile(file, JSON.stringify(lab));
    } else {
      await writeFile(file, JSON.stringify(content));
    }
    const result = await runCli(['compare', '--targets-file', file, '-d', '1', ...extra]);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
  });

  it(
    'reports the paths it measured when the agent is unreachable, names it, and exits 1',
    { timeout: 120_000 },
    async () => {
      const port = await freePort();
      const result = await runCli([
        'compare',
        '--targets-file',
        targetsFile,
        '--agent-url',
        `http://127.0.0.1:${port}`,
        '--only',
        'pod-ip,nlb-peering',
        '-c',
        '2',
        '-r',
        '100',
        '-w',
        '0',
        '-d',
        '1',
      ]);
      expect(result.code).toBe(1);
      const refused = new RegExp(`cannot reach the agent at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`);
      expect(result.stderr).toMatch(refused);
      // The in-cluster path was measured and reported all the same; the other is listed as not measured.
      expect(result.stdout).toMatch(/^pod-ip\s+[\d.]+/m);
      expect(result.stdout).not.toMatch(/^nlb-peering\s+[\d.]+/m);
      expect(result.stdout).toMatch(/not measured:\n\s+nlb-peering \(round 1\): cannot reach the agent/);
    },
  );

  it('exits 1 naming the agent when nothing could be measured', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const result = await runCli([
      'compare',
      '--targets-file',
      targetsFile,
      '--agent-url',
      `http://127.0.0.1:${port}`,
      '--only',
      'nlb-peering',
      '-d',
      '1',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`gavel-latency: error: cannot reach the agent at http://127\\.0\\.0\\.1:${port}`),
    );
  });
});

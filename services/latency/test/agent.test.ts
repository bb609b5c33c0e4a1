import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@gavel/shared';
import { REPO_ROOT, freePort, waitFor } from '@gavel/shared/testing';
import { createAgentServer } from '../src/agent/agent-server.js';
import { startDelayingServer, type MisbehavingServer } from './support/echo-servers.js';

// The agent's replies, as the test reads them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Run = { state: string; result: any };

const LOAD = { connections: 2, rate: 100, payloadBytes: 64, warmupS: 0, durationS: 1 };

describe('the client VPC agent (in process, real HTTP, a real echo server)', () => {
  let echo: MisbehavingServer;
  let agent: ReturnType<typeof createAgentServer>;
  let url: string;
  beforeAll(async () => {
    echo = await startDelayingServer(1000, 0);
    agent = createAgentServer({
      targets: [{ label: 'privatelink', url: echo.url }],
      logger: createLogger('agent-test', 'silent'),
    });
    await agent.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(agent.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await agent.close();
    await echo.close();
  });

  const start = (body: unknown) =>
    fetch(`${url}/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it.each([
    ['a load with rate 0', { label: 'privatelink', load: { ...LOAD, rate: 0 } }, 400, /load\.rate/],
    [
      'a payload below the probe header',
      { label: 'privatelink', load: { ...LOAD, payloadBytes: 8 } },
      400,
      /payloadBytes/,
    ],
    [
      'an unknown field (a URL to aim at)',
      { label: 'privatelink', load: LOAD, url: 'ws://elsewhere' },
      400,
      /url|Unrecognized/i,
    ],
    [
      'a label it was not given',
      { label: 'transit', load: LOAD },
      404,
      /no target transit; this agent measures privatelink/,
    ],
  ])('refuses %s and starts nothing', async (_what, body, status, message) => {
    const response = await start(body);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: string }).error).toMatch(message);
    expect(echo.connectionsSeen()).toBe(0);
  });

  it('runs one load at a time and hands back its histograms', { timeout: 120_000 }, async () => {
    const response = await start({ label: 'privatelink', load: LOAD });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    // A second run while the first is going would load the same client twice.
    const busy = await start({ label: 'privatelink', load: LOAD });
    expect(busy.status).toBe(409);
    const run = await waitFor(
      async () => {
        const r = (await (await fetch(`${url}/runs/${id}`)).json()) as Run;
        return r.state === 'done' ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the run to finish' },
    );
    expect(run.result).toMatchObject({
      target: { label: 'privatelink', url: echo.url },
      received: 100,
      lost: 0,
    });
    expect(run.result.histogram.length).toBeGreaterThan(10);
    expect(echo.connectionsSeen()).toBe(2);
    expect((await fetch(`${url}/runs/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await fetch(`${url}/runs/not-a-uuid`)).status).toBe(400);
  });
});

/** Runs `gavel-latency agent` from source with `env`, as the Fargate task does. */
function spawnAgent(port: number, env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      'services/latency/src/cli.ts',
      'agent',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, output: () => output };
}

describe('gavel-latency agent (spawned)', () => {
  it('refuses a bad LATENCY_AGENT_TARGETS, naming it, with exit 2', { timeout: 120_000 }, async () => {
    const agent = spawnAgent(await freePort(), {
      LATENCY_AGENT_TARGETS: '[{"label":"Nope","url":"ftp://x"}]',
    });
    expect(await agent.exited).toBe(2);
    expect(agent.output()).toMatch(/LATENCY_AGENT_TARGETS/);
  });

  it('serves its configured paths and stops on SIGTERM', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const targets = [{ label: 'nlb-peering', url: 'ws://127.0.0.1:9/echo' }];
    const agent = spawnAgent(port, { LATENCY_AGENT_TARGETS: JSON.stringify(targets) });
    try {
      const listed = await waitFor(
        async () =>
          (await (await fetch(`http://127.0.0.1:${port}/targets`)).json()) as { targets: unknown[] },
        {
          timeoutMs: 40_000,
          intervalMs: 200,
          what: `the agent to listen\n${agent.output()}`,
        },
      );
      expect(listed.targets).toEqual([
        { label: 'nlb-peering', url: 'ws://127.0.0.1:9/echo', protocol: 'ws' },
      ]);
      expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
    } finally {
      agent.child.kill('SIGTERM');
    }
    expect(await agent.exited).toBe(0);
  });
});

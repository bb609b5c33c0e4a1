import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  deleteRedisKeys,
  dropTopology,
  freePort,
  testTopology,
  uniqueId,
  waitFor,
} from '@gavel/shared/testing';
import { alive } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const strip = stripVTControlCharacters;

/** The supervised services: the start script's children, by the workspace each runs in. */
function children(pid: number): Map<string, number> {
  const found = new Map<string, number>();
  const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  for (const child of tasks.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      const workspace = readlinkSync(`/proc/${child}/cwd`).split('/').pop() ?? '';
      const colour = /(?:^|\0)BROADCAST_COLOR=(\w+)/.exec(
        readFileSync(`/proc/${child}/environ`, 'latin1'),
      )?.[1];
      found.set(workspace === 'broadcast' ? `broadcast-${colour}` : workspace, child);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Runs a node script to its end, collecting its output, without blocking this process. */
function run(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * `npm start` end to end, on free ports with its own database, stream and Redis prefix: it
 * builds, starts the four services, says ready once each /readyz answers, restarts a service
 * that dies while the others keep running, and stops everything cleanly on Ctrl-C.
 */
describe('npm start', () => {
  const topology = testTopology();
  const redisPrefix = `${uniqueId('start')}:`;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let start: ChildProcess | undefined;
  let output = '';

  afterAll(async () => {
    if (start?.pid && alive(start.pid)) {
      for (const pid of children(start.pid).values()) process.kill(pid, 'SIGKILL');
      start.kill('SIGKILL');
    }
    await dropTopology(topology);
    await deleteRedisKeys(redisPrefix);
    await db?.drop();
  });

  it(
    'runs the stack, says ready with its URLs, supervises it and stops on Ctrl-C',
    { timeout: 420_000 },
    async () => {
      db = await createTestDatabase();
      await db.drop(); // the start script creates it, as on a first run
      const ports = {
        api: await freePort(),
        broadcast: await freePort(),
        blue: await freePort(),
        green: await freePort(),
        archival: await freePort(),
        latency: await freePort(),
      };
      start = spawn(process.execPath, ['scripts/start.mjs'], {
        cwd: root,
        env: {
          ...process.env,
          AUTH_SECRET: '',
          LOG_FORMAT: 'json',
          LOG_LEVEL: 'info',
          DATABASE_URL: db.url,
          REDIS_PREFIX: redisPrefix,
          NATS_STREAM: topology.stream,
          EVENT_PREFIX: topology.prefix,
          API_PORT: String(ports.api),
          BROADCAST_PORT: String(ports.broadcast),
          BROADCAST_BLUE_PORT: String(ports.blue),
          BROADCAST_GREEN_PORT: String(ports.green),
          ARCHIVAL_PORT: String(ports.archival),
          LATENCY_PORT: String(ports.latency),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      start.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      start.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((r) => start!.once('exit', (code) => r(code)));

      // A first run builds everything: generous, as on a loaded CI machine.
      await waitFor(() => /\[start\] ready in [\d.]+ s/.test(strip(output)), {
        what: 'the ready line',
        timeoutMs: 300_000,
        intervalMs: 250,
      }).catch((err: unknown) => {
        throw new Error(`${String(err)}; output:\n${strip(output).slice(-4000)}`);
      });
      const text = strip(output);
      expect(text).toContain('[start] AUTH_SECRET is not set: using a random one for this run');
      expect(text).toContain(`page          http://127.0.0.1:${ports.api}/`);
      expect(text).toContain(`broadcast     http://127.0.0.1:${ports.broadcast}/socket.io`);
      expect(text).toContain(
        `blue/green    http://127.0.0.1:${ports.blue} and http://127.0.0.1:${ports.green} behind it`,
      );
      expect(text).toContain(`latency echo  ws://127.0.0.1:${ports.latency}/echo`);
      // "ready" comes after every service said so itself.
      for (const port of Object.values(ports)) {
        expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      }
      // A normal start has nothing to warn about.
      const warnings = text
        .split('\n')
        .filter((l) => /"level":(4|5|6)0/.test(l))
        .join('\n');
      expect(warnings).toBe('');

      // kill -9 of one service: it comes back; the others keep their processes.
      const before = children(start.pid!);
      expect([...before.keys()].sort()).toEqual([
        'api',
        'archival',
        'broadcast-blue',
        'broadcast-green',
        'latency',
      ]);
      process.kill(before.get('api')!, 'SIGKILL');
      await waitFor(
        () => strip(output).includes('[api] exited (signal SIGKILL); restarting in 1 s (restart 1)'),
        {
          what: 'the restart line',
          timeoutMs: 30_000,
        },
      );
      await waitFor(
        async () =>
          (await fetch(`http://127.0.0.1:${ports.api}/readyz`).catch(() => undefined))?.status === 200,
        { what: 'the api back', timeoutMs: 120_000, intervalMs: 250 },
      );
      const after = children(start.pid!);
      expect(after.get('api')).not.toBe(before.get('api'));
      for (const name of ['archival', 'broadcast-blue', 'broadcast-green', 'latency']) {
        expect(after.get(name)).toBe(before.get(name));
      }

      // Seed 002's demo through the local blue/green proxy: users move from blue to green when it
      // drains and see nothing of it.
      // Not spawnSync: this process must keep reading the stack's output meanwhile.
      const demo = await run(
        ['scripts/demo-bluegreen.mjs', '--users', '6', '--step-s', '1', '--rate', '5', '--json'],
        { ...process.env, API_PORT: String(ports.api), BROADCAST_PORT: String(ports.broadcast) },
      );
      expect(demo.status, `${demo.stdout}\n${demo.stderr}`).toBe(0);
      const summary = JSON.parse(demo.stdout.trim().split('\n').at(-1) ?? '{}');
      expect(summary).toMatchObject({ users: 24, visibleDisconnections: 0, lost: 0, duplicated: 0 });
      expect(summary.bids).toBeGreaterThan(0);
      expect(summary.messages).toBeGreaterThan(0);
      // Everyone blue had was moved by the drain (the 90/10 step alone puts most of its 6 there).
      expect(summary.moves).toBeGreaterThan(0);
      expect(summary.steps.at(-1).connectedTo).toEqual({ blue: 0, green: 24 });

      // The drained colour was restarted, as a Deployment's pod would be, and is ready again.
      await waitFor(
        async () => {
          const status = (await (
            await fetch(`http://127.0.0.1:${ports.broadcast}/__gavel/proxy`)
          ).json()) as {
            backends: Array<{ colour: string; ready: boolean }>;
          };
          return status.backends.every((b) => b.ready);
        },
        { what: 'blue back and ready', timeoutMs: 120_000, intervalMs: 250 },
      );
      expect(strip(output)).toContain('[broadcast-blue] exited (code 0); restarting in 1 s (restart 1)');

      // Ctrl-C: every service drains and exits, then the script, with 0.
      start.kill('SIGINT');
      expect(await exited).toBe(0);
      for (const pid of after.values()) expect(alive(pid)).toBe(false);
      for (const name of ['api', 'archival', 'broadcast-blue', 'broadcast-green', 'latency']) {
        expect(strip(output)).toContain(`[${name}] stopped (code 0)`);
      }
    },
  );
});

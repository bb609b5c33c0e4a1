import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@gavel/shared/testing';
import { Supervisor } from '../dev-stack/supervisor.mjs';
import { alive } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const fixture = join(here, 'fixtures', 'flaky-service.mjs');
const strip = stripVTControlCharacters;

function service(name: string, env: Record<string, string>) {
  return { name, command: process.execPath, args: [fixture], cwd: here, env: { ...process.env, ...env } };
}

describe('the npm start supervisor', () => {
  let supervisor: Supervisor | undefined;
  afterEach(async () => {
    await supervisor?.stop();
    await supervisor?.stop();
  });

  it('restarts a service that exits, with growing delays, and leaves the others alone', async () => {
    const lines: string[] = [];
    supervisor = new Supervisor({
      write: (l) => lines.push(strip(l)),
      initialBackoffMs: 100,
      maxBackoffMs: 400,
    });
    supervisor.start([service('steady', { MODE: 'serve' }), service('crashy', { MODE: 'crash' })]);
    await waitFor(() => lines.some((l) => l.startsWith('[steady] up')), {
      what: 'steady up',
      timeoutMs: 20_000,
    });
    const steadyPid = supervisor.pid('steady');
    await waitFor(() => supervisor!.restarts().crashy! >= 4, { what: 'four restarts', timeoutMs: 30_000 });
    const restarts = lines.filter((l) => l.startsWith('[crashy] exited'));
    expect(restarts.slice(0, 4)).toEqual([
      '[crashy] exited (code 3); restarting in 100 ms (restart 1)',
      '[crashy] exited (code 3); restarting in 200 ms (restart 2)',
      '[crashy] exited (code 3); restarting in 400 ms (restart 3)',
      '[crashy] exited (code 3); restarting in 400 ms (restart 4)',
    ]);
    expect(supervisor.restarts().steady).toBe(0);
    expect(supervisor.pid('steady')).toBe(steadyPid);
  });

  it('stops every service once with SIGTERM, lets them drain, and restarts nothing after', async () => {
    const lines: string[] = [];
    supervisor = new Supervisor({ write: (l) => lines.push(strip(l)), initialBackoffMs: 50 });
    supervisor.start([service('a', { MODE: 'serve' }), service('b', { MODE: 'serve' })]);
    await waitFor(() => lines.filter((l) => / up \d+$/.test(l)).length === 2, {
      what: 'both up',
      timeoutMs: 20_000,
    });
    const pids = [supervisor.pid('a')!, supervisor.pid('b')!];
    await supervisor.stop();
    expect(lines).toContain('[a] draining');
    expect(lines).toContain('[b] draining');
    expect(lines).toContain('[a] stopped (code 0)');
    expect(lines).toContain('[b] stopped (code 0)');
    expect(pids.filter(alive)).toEqual([]);
    expect(supervisor.restarts()).toEqual({ a: 0, b: 0 });
  });

  it('kills on the second stop a service that ignores SIGTERM', async () => {
    const lines: string[] = [];
    supervisor = new Supervisor({ write: (l) => lines.push(strip(l)) });
    supervisor.start([service('wedged', { MODE: 'stubborn' })]);
    await waitFor(() => lines.some((l) => l.startsWith('[wedged] up')), { what: 'up', timeoutMs: 20_000 });
    const first = supervisor.stop();
    await waitFor(() => lines.includes('[wedged] ignoring SIGTERM'), {
      what: 'SIGTERM seen',
      timeoutMs: 20_000,
    });
    await Promise.all([first, supervisor.stop()]);
    expect(lines).toContain('[wedged] stopped (signal SIGKILL)');
  });

  it('leaves no orphan: a service whose supervisor is killed stops by itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gavel-orphan-'));
    const marker = join(dir, 'stopped');
    const runner = spawn(process.execPath, [join(here, 'fixtures', 'run-supervisor.mjs')], {
      cwd: root,
      env: {
        ...process.env,
        CHILD_ENTRY: join(here, 'fixtures', 'orphan-check.ts'),
        CHILD_CWD: root,
        STOPPED_MARKER: marker,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    runner.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const childPid = await waitFor(() => /up (\d+)/.exec(strip(output))?.[1], {
      what: 'child up',
      timeoutMs: 30_000,
    });
    runner.kill('SIGKILL');
    await waitFor(() => existsSync(marker) && !alive(Number(childPid)), {
      what: 'the orphaned child to stop itself',
      timeoutMs: 30_000,
    });
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import pg from 'pg';
import { connect } from 'nats';
import type { Topology } from './events.js';

/**
 * Helpers for tests against the real Redis, PostgreSQL and NATS. Every test takes its own
 * names from here so that test files can run in parallel and be repeated.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
export const TEST_PG_ADMIN_URL =
  process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh id usable as a subject token, key part and database name. */
export function uniqueId(prefix = 't'): string {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

export function testTopology(): Topology {
  const id = uniqueId('t');
  return { stream: id.toUpperCase(), prefix: id };
}

/** Deletes the test's streams (best effort). */
export async function dropTopology(topology: Topology, natsUrl = TEST_NATS_URL): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    for (const name of [topology.stream, `${topology.stream}_DLQ`]) {
      await jsm.streams.delete(name).catch(() => undefined);
    }
  } finally {
    await nc.close();
  }
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

/** Creates an empty database of its own for one test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = uniqueId('gavel_test').toLowerCase();
  const admin = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function waitFor<T>(
  probe: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${options.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything the process wrote, for assertions and for failure messages. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs a service's TypeScript entry file in a child process (through tsx, reading workspace
 * packages from source) and waits until its /livez answers.
 */
export async function spawnService(
  entry: string,
  env: Record<string, string>,
  options: { port: number; readyPath?: string; timeoutMs?: number } = { port: 0 },
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', entry], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${options.port}`;
  let done = false;
  void exited.then(() => (done = true));
  await waitFor(
    async () => {
      if (done) throw new Error(`process exited early:\n${output}`);
      const res = await fetch(`${url}${options.readyPath ?? '/livez'}`);
      return res.ok;
    },
    { timeoutMs: options.timeoutMs ?? 20_000, what: `${entry} to listen`, intervalMs: 100 },
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${String(err)}\n--- output ---\n${output}`);
  });
  return {
    child,
    url,
    output: () => output,
    async kill(signal = 'SIGTERM') {
      if (done) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

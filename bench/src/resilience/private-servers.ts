import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The experiment's own Redis, NATS and PostgreSQL, on free loopback ports with their data in
 * temporary directories: they are killed (-9) and restarted on the same port and data, which
 * the machine's shared servers must never be.
 */
export interface PrivateServer {
  readonly name: string;
  readonly url: string;
  pid(): number | undefined;
  /** kill -9 (PostgreSQL: an immediate shutdown, its equivalent). */
  kill(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  remove(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

async function untilOpen(port: number, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await portOpen(port))) {
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port}`);
    await sleep(50);
  }
}

/** A server that is one process we start (redis-server, nats-server). */
function processServer(
  name: string,
  url: string,
  port: number,
  command: string,
  args: string[],
  dir: string,
): PrivateServer {
  let child: ChildProcess | undefined;
  const server: PrivateServer = {
    name,
    url,
    pid: () => child?.pid,
    async kill() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
    async start() {
      child = spawn(command, args, { stdio: 'ignore' });
      await untilOpen(port, name);
    },
    async remove() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

export function privateRedis(port: number): PrivateServer {
  const dir = mkdtempSync(join(tmpdir(), 'gavel-res-redis-'));
  // Every write fsynced before it is answered: a kill -9 then loses no accepted bid.
  return processServer(
    'redis',
    `redis://127.0.0.1:${port}`,
    port,
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--dir',
      dir,
    ],
    dir,
  );
}

export function privateNats(port: number): PrivateServer {
  const dir = mkdtempSync(join(tmpdir(), 'gavel-res-nats-'));
  return processServer(
    'nats',
    `nats://127.0.0.1:${port}`,
    port,
    'nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir],
    dir,
  );
}

/** A PostgreSQL 15 cluster of its own (Debian's pg_createcluster), trust auth on loopback. */
export function privatePostgres(port: number): PrivateServer {
  const cluster = `gavelres${process.pid}`;
  const ctl = (...args: string[]) =>
    execFileSync('pg_ctlcluster', ['15', cluster, ...args], { stdio: 'ignore' });
  let created = false;
  return {
    name: 'postgres',
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pid: () => undefined,
    async kill() {
      ctl('stop', '-m', 'immediate');
    },
    async start() {
      if (!created) {
        execFileSync('pg_createcluster', ['15', cluster, '-p', String(port), '--', '--auth=trust'], {
          stdio: 'ignore',
        });
        created = true;
      }
      ctl('start');
      await untilOpen(port, 'postgres');
    },
    async remove() {
      if (created) execFileSync('pg_dropcluster', ['--stop', '15', cluster], { stdio: 'ignore' });
    },
  };
}

/** A free loopback port (the kernel's pick, released at once). */
export async function freeLoopbackPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

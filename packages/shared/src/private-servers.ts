import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import pg from 'pg';
import { freePort, waitFor } from './testing.js';

/**
 * Redis, NATS and PostgreSQL servers of a test's own, on free loopback ports with their data in
 * temporary places: a test may kill, pause and restart them without disturbing the shared
 * instances other tests use. Each restart keeps the port and the data.
 */

const run = promisify(execFile);

/** A server run as a child process of the test: kill -9, SIGSTOP/SIGCONT, restart. */
abstract class ChildServer {
  protected child: ChildProcess | null = null;
  protected output = '';

  protected abstract command(): { binary: string; args: string[] };
  protected abstract probe(): Promise<boolean>;
  protected abstract readonly label: string;

  constructor(readonly port: number) {}

  /** Pid of the running server (for CPU readings and signals). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  protected async launch(): Promise<void> {
    const { binary, args } = this.command();
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    child.stdout?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-8000)));
    child.stderr?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-8000)));
    child.once('error', (err) => (this.output += `\n${String(err)}`));
    // A loaded machine can take tens of seconds to start one (JetStream recovers its store first).
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`${this.label} exited with ${child.exitCode}: ${this.output}`);
        return this.probe();
      },
      { what: `${this.label} on port ${this.port}`, timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  /** Freezes the server: its connections stay open, nothing is answered. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Ends the server with `signal` (default kill -9) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill(signal);
    await exited;
  }

  /** Starts the server again, on the same port and data. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }
}

export interface PrivateRedisOptions {
  /**
   * AOF with `appendfsync always` (true), or no persistence at all (false: no AOF, no RDB
   * snapshots, as LocalRedisCluster's nodes run, so a benchmark compares like with like).
   * @default true
   */
  readonly durable?: boolean;
}

/**
 * redis-server with AOF and `appendfsync always`: a kill -9 keeps every acknowledged write, as
 * an ElastiCache node with persistence would (replication aside, see RELIABILITY.md). With
 * `durable: false` it keeps nothing on disk.
 */
export class PrivateRedis extends ChildServer {
  protected readonly label = 'redis-server';

  private constructor(
    port: number,
    readonly dir: string,
    private readonly durable: boolean,
  ) {
    super(port);
  }

  static async start(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(
      await freePort(),
      await mkdtemp(join(tmpdir(), 'gavel-redis-')),
      options.durable ?? true,
    );
    await redis.launch();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  protected command() {
    return {
      binary: 'redis-server',
      args: [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        ...(this.durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
      ],
    };
  }

  protected async probe(): Promise<boolean> {
    const client = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** nats-server with JetStream, its store in a temporary directory. */
export class PrivateNats extends ChildServer {
  protected readonly label = 'nats-server';

  private constructor(
    port: number,
    readonly storeDir: string,
  ) {
    super(port);
  }

  static async start(): Promise<PrivateNats> {
    const nats = new PrivateNats(await freePort(), await mkdtemp(join(tmpdir(), 'gavel-nats-')));
    await nats.launch();
    return nats;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  protected command() {
    return {
      binary: 'nats-server',
      args: ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir],
    };
  }

  /** Ready once JetStream answers (after a restart it first recovers its store). */
  protected async probe(): Promise<boolean> {
    const nc = await connect({ servers: this.url, timeout: 1000, reconnect: false });
    try {
      const jsm = await nc.jetstreamManager({ timeout: 2000 });
      await jsm.getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

/** The PostgreSQL major version the machine's cluster tools manage. */
async function postgresVersion(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql'))
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => +b - +a);
  if (!versions[0]) throw new Error('no PostgreSQL server under /usr/lib/postgresql');
  return versions[0];
}

/**
 * A PostgreSQL cluster of the test's own (Debian's pg_createcluster), trust auth on loopback,
 * with a `gavel` database. `kill()` is an immediate shutdown (no checkpoint: crash recovery at
 * the next start, as after kill -9); `stop()` drops the cluster and its data.
 */
export class PrivatePostgres {
  private up = false;

  private constructor(
    readonly version: string,
    readonly name: string,
    readonly port: number,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const version = await postgresVersion();
    const name = `gavel_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const server = new PrivatePostgres(version, name, await freePort());
    await run('pg_createcluster', [
      version,
      name,
      '-p',
      String(server.port),
      '--start-conf',
      'manual',
      '--',
      '--auth=trust',
      '--no-sync',
    ]);
    try {
      await server.launch();
      const admin = new pg.Client({ connectionString: server.adminUrl });
      await admin.connect();
      try {
        await admin.query('CREATE DATABASE gavel');
      } finally {
        await admin.end();
      }
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** The `gavel` database. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/gavel`;
  }

  get running(): boolean {
    return this.up;
  }

  private async launch(): Promise<void> {
    // Small shared memory: several clusters may run at once on a small machine.
    await run(
      'pg_ctlcluster',
      [this.version, this.name, 'start', '-o', '-c shared_buffers=16MB -c max_connections=60'],
      { timeout: 120_000 },
    );
    this.up = true;
    await waitFor(
      async () => {
        const c = new pg.Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 2000 });
        await c.connect();
        await c.end();
        return true;
      },
      { what: `PostgreSQL cluster ${this.name}`, timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  /** Immediate shutdown: every connection drops, nothing is checkpointed. */
  async kill(): Promise<void> {
    if (!this.up) return;
    await run('pg_ctlcluster', [this.version, this.name, 'stop', '-m', 'immediate'], { timeout: 60_000 });
    this.up = false;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    this.up = false;
    await run('pg_dropcluster', ['--stop', this.version, this.name], { timeout: 60_000 }).catch(
      () => undefined,
    );
  }
}

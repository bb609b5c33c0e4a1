import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import pg from 'pg';
import { connect } from 'nats';
import type { Topology } from './events.js';
import { FaultProxy } from './fault-proxy.js';

export * from './bench-run.js';
export * from './bench-stats.js';

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
 * packages from source, with the tracing bootstrap) and waits until its /livez answers.
 */
export async function spawnService(
  entry: string,
  env: Record<string, string>,
  options: { port: number; readyPath?: string; timeoutMs?: number } = { port: 0 },
): Promise<ServiceProcess> {
  // The tracing bootstrap as the services start in production (a no-op unless OTEL_* asks).
  const args = ['--conditions=source', '--import', 'tsx', '--import', '@gavel/shared/telemetry', entry];
  const child = spawn(process.execPath, args, {
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
    // A loaded machine has taken more than 40 s to start one (tsx compiles it first).
    { timeoutMs: options.timeoutMs ?? 120_000, what: `${entry} to listen`, intervalMs: 100 },
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

/** Deletes every Redis key under `prefix` (a test's own prefix). */
export async function deleteRedisKeys(prefix: string, redisUrl = TEST_REDIS_URL): Promise<void> {
  if (prefix.length < 3)
    throw new Error(`refusing to delete keys under the short prefix ${JSON.stringify(prefix)}`);
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

export type StackService = 'api' | 'broadcast' | 'archival';

const STACK_ENTRIES: Readonly<Record<StackService, string>> = {
  api: 'services/api/src/main.ts',
  broadcast: 'services/broadcast/src/main.ts',
  archival: 'services/archival/src/main.ts',
};

export interface TestStackOptions {
  /** Environment per service, over the stack's own (which names its database, stream and prefix). */
  readonly env?: Partial<Record<StackService, Record<string, string>>>;
  /** Bounds a hang while a service starts; a loaded CI machine starts them slowly. @default 120_000 */
  readonly startupMs?: number;
}

/**
 * The whole stack for an end-to-end test: archival, api and broadcast as child processes on
 * free ports, with a database, a JetStream stream and a Redis key prefix of their own, in jwt
 * mode with dev tokens and auto-opened items. `stop()` ends the processes and removes all of it.
 */
export class TestStack {
  readonly topology = testTopology();
  readonly secret = randomBytes(24).toString('base64url');
  readonly redisPrefix = `${uniqueId('stack')}:`;
  private readonly processes = new Set<ServiceProcess>();
  private readonly proxies = new Set<FaultProxy>();

  private constructor(
    readonly database: TestDatabase,
    readonly ports: Readonly<Record<StackService, number>>,
    private readonly options: TestStackOptions,
  ) {}

  static async start(options: TestStackOptions = {}): Promise<TestStack> {
    const database = await createTestDatabase();
    const [api, broadcast, archival] = await Promise.all([freePort(), freePort(), freePort()]);
    const stack = new TestStack(database, { api, broadcast, archival }, options);
    try {
      // Archival applies the migrations before its /readyz answers; the api's history routes need them.
      await stack.spawn('archival', { readyPath: '/readyz' });
      await Promise.all([stack.spawn('api'), stack.spawn('broadcast')]);
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  url(service: StackService): string {
    return `http://127.0.0.1:${this.ports[service]}`;
  }

  /** The environment a process of `service` runs with. */
  env(service: StackService, extra: Record<string, string> = {}): Record<string, string> {
    return {
      REDIS_URL: TEST_REDIS_URL,
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: this.database.url,
      REDIS_PREFIX: this.redisPrefix,
      NATS_STREAM: this.topology.stream,
      EVENT_PREFIX: this.topology.prefix,
      AUTH_MODE: 'jwt',
      AUTH_SECRET: this.secret,
      DEV_TOKENS: 'true',
      AUTO_OPEN_ITEMS: 'true',
      HOST: '127.0.0.1',
      PORT: String(this.ports[service]),
      ...this.options.env?.[service],
      ...extra,
    };
  }

  /**
   * Starts a process of `service`: a restart on its own port, or another replica on `port`.
   * Every process started here is ended by stop().
   */
  async spawn(
    service: StackService,
    options: { port?: number; env?: Record<string, string>; readyPath?: string } = {},
  ): Promise<ServiceProcess> {
    const port = options.port ?? this.ports[service];
    const proc = await spawnService(
      STACK_ENTRIES[service],
      this.env(service, { ...options.env, PORT: String(port) }),
      {
        port,
        timeoutMs: this.options.startupMs ?? 120_000,
        ...(options.readyPath ? { readyPath: options.readyPath } : {}),
      },
    );
    this.processes.add(proc);
    return proc;
  }

  /**
   * Another api replica whose Redis link runs through a FaultProxy: holding Redis' replies makes
   * its bids' outcome unknown, cutting the link makes them never reach Redis. It only answers:
   * the stack's own api relays the outbox and closes auctions. The proxy is closed by stop().
   */
  async spawnApiBehindFaultProxy(
    env: Record<string, string> = {},
  ): Promise<{ replica: ServiceProcess; proxy: FaultProxy }> {
    const redis = new URL(TEST_REDIS_URL);
    const proxy = await FaultProxy.start({ host: redis.hostname, port: Number(redis.port || 6379) });
    this.proxies.add(proxy);
    const replica = await this.spawn('api', {
      port: await freePort(),
      env: { REDIS_URL: proxy.urlFor(TEST_REDIS_URL), OUTBOX_RELAY: 'false', CLOSER: 'false', ...env },
    });
    return { replica, proxy };
  }

  /** The running process of `service` on its own port. */
  process(service: StackService): ServiceProcess {
    const found = [...this.processes].find(
      (p) => p.url === this.url(service) && p.child.exitCode === null && p.child.signalCode === null,
    );
    if (!found) throw new Error(`no running ${service} process`);
    return found;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.kill('SIGTERM')));
    for (const proxy of this.proxies) {
      proxy.restore();
      await proxy.close();
    }
    await dropTopology(this.topology).catch(() => undefined);
    await this.database.drop().catch(() => undefined);
    await deleteRedisKeys(this.redisPrefix);
  }
}

/**
 * A TCP relay on loopback: each new connection is piped to the target `pickTarget` names (none:
 * refused). Tests put one in front of a shared server to cut it away from one process, or in
 * front of several replicas as a stand-in load balancer.
 */
export class TcpRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly pickTarget: () => { host: string; port: number } | undefined) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on `port` (0: any free port); may listen again, on the same port, after close(). */
  async listen(port = this.port): Promise<number> {
    const server = createServer((client) => {
      const target = this.pickTarget();
      if (!target) return client.destroy();
      const upstream = netConnect(target.port, target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : port;
    this.server = server;
    return this.port;
  }

  /** Drops every relayed connection and refuses new ones. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export { FaultProxy, type FaultMode } from './fault-proxy.js';
export { PrivateNats, PrivatePostgres, PrivateRedis, type PrivateRedisOptions } from './private-servers.js';
export {
  LocalRedisCluster,
  type LocalRedisClusterOptions,
  type LocalRedisNode,
} from './local-redis-cluster.js';

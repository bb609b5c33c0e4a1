import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

/**
 * A real Redis Cluster for tests and benchmarks, made of the machine's `redis-server`: N
 * primaries (and R replicas of each) on free ports, joined by `redis-cli --cluster create`.
 * Nodes can be killed (kill -9) to watch a failover; stop() ends every node and removes its
 * files. Each node's cluster bus gets a free port of its own too (`--cluster-port`), so two
 * clusters, or a cluster and the shared Redis, never collide.
 */

const run = promisify(execFile);

export interface LocalRedisClusterOptions {
  /** @default 3 */
  readonly primaries?: number;
  /** Replicas of each primary; one or more lets a killed primary fail over. @default 0 */
  readonly replicasPerPrimary?: number;
  /**
   * cluster-node-timeout: how long a silent node takes to be judged failed (and its replica
   * promoted). Short here so that a failover test is quick. @default 2000
   */
  readonly nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  readonly serverArgs?: readonly string[];
}

export interface LocalRedisNode {
  readonly port: number;
  readonly busPort: number;
  readonly dir: string;
  readonly child: ChildProcess;
}

/** Every node this process started, so that an exiting test run leaves none behind. */
const started = new Set<ChildProcess>();
let exitHookInstalled = false;

export class LocalRedisCluster {
  private constructor(
    readonly nodes: readonly LocalRedisNode[],
    private readonly root: string,
  ) {}

  static async start(options: LocalRedisClusterOptions = {}): Promise<LocalRedisCluster> {
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', () => {
        for (const child of started) child.kill('SIGKILL');
      });
    }
    const primaries = options.primaries ?? 3;
    const replicas = options.replicasPerPrimary ?? 0;
    const count = primaries * (1 + replicas);
    const root = await mkdtemp(join(tmpdir(), 'gavel-redis-cluster-'));
    const ports = await freePorts(count * 2);
    const nodes: LocalRedisNode[] = [];
    const cluster = new LocalRedisCluster(nodes, root);
    try {
      for (let i = 0; i < count; i++) {
        const port = ports[i * 2]!;
        const busPort = ports[i * 2 + 1]!;
        const dir = join(root, String(port));
        await mkdir(dir);
        const child = spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--cluster-port',
            String(busPort),
            '--bind',
            '127.0.0.1',
            '--dir',
            dir,
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            String(options.nodeTimeoutMs ?? 2000),
            // A replica may take over however long it was cut off (tests kill primaries on purpose).
            '--cluster-replica-validity-factor',
            '0',
            // While a shard has no primary the others keep serving their slots (ElastiCache's
            // default too); with full coverage required the whole cluster would refuse.
            '--cluster-require-full-coverage',
            'no',
            '--save',
            '',
            '--appendonly',
            'no',
            ...(options.serverArgs ?? []),
          ],
          { stdio: 'ignore' },
        );
        started.add(child);
        child.once('exit', () => started.delete(child));
        nodes.push({ port, busPort, dir, child });
      }
      await Promise.all(nodes.map((n) => waitPing(n.port)));
      await run(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...nodes.map((n) => `127.0.0.1:${n.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        { timeout: 120_000 },
      );
      await cluster.waitHealthy({ primaries, replicasPerPrimary: replicas });
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** REDIS_URL for the services: every node as a seed. */
  get url(): string {
    return this.nodes.map((n) => `redis://127.0.0.1:${n.port}`).join(',');
  }

  /** The environment a service needs to use this cluster. */
  env(): { REDIS_URL: string; REDIS_CLUSTER: 'true' } {
    return { REDIS_URL: this.url, REDIS_CLUSTER: 'true' };
  }

  /** Nodes whose process still runs. */
  live(): LocalRedisNode[] {
    return this.nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  }

  /** A cluster client for a test's own looks (ioredis, following MOVED like the services do). */
  client(): Cluster {
    const client = new Cluster(
      this.live().map((n) => ({ host: '127.0.0.1', port: n.port })),
      { slotsRefreshTimeout: 5000 },
    );
    client.on('error', () => undefined);
    return client;
  }

  /** Which node serves each slot now, as a live node sees it (CLUSTER SLOTS). */
  async slotOwners(): Promise<Array<{ from: number; to: number; port: number; replicas: number[] }>> {
    const [node] = this.live();
    if (!node) throw new Error('no live node');
    const redis = direct(node.port);
    try {
      const slots = (await redis.call('CLUSTER', 'SLOTS')) as Array<
        [number, number, [string, number], ...Array<[string, number]>]
      >;
      return slots
        .map(([from, to, primary, ...rest]) => ({
          from,
          to,
          port: primary[1],
          replicas: rest.map((r) => r[1]),
        }))
        .sort((a, b) => a.from - b.from);
    } finally {
      redis.disconnect();
    }
  }

  /** The port of the primary that serves `slot`. */
  async primaryOf(slot: number): Promise<number> {
    const range = (await this.slotOwners()).find((r) => r.from <= slot && slot <= r.to);
    if (!range) throw new Error(`no node serves slot ${slot}`);
    return range.port;
  }

  /** The slot of a key, as Redis computes it. */
  async keySlot(key: string): Promise<number> {
    const [node] = this.live();
    if (!node) throw new Error('no live node');
    const redis = direct(node.port);
    try {
      return (await redis.call('CLUSTER', 'KEYSLOT', key)) as number;
    } finally {
      redis.disconnect();
    }
  }

  /** kill -9 of one node. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port);
    if (!node || node.child.exitCode !== null || node.child.signalCode !== null) return;
    const exited = new Promise((resolve) => node.child.once('exit', resolve));
    node.child.kill('SIGKILL');
    await exited;
  }

  /**
   * Waits until every live node says cluster_state:ok and every slot is served by a live
   * primary (after a failover: the promoted replica), with the expected shape if given.
   */
  async waitHealthy(
    expect: { primaries?: number; replicasPerPrimary?: number } = {},
    timeoutMs = 120_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const livePorts = new Set(this.live().map((n) => n.port));
        const states = await Promise.all(
          this.live().map(async (n) => {
            const redis = direct(n.port);
            try {
              return String(await redis.call('CLUSTER', 'INFO'));
            } finally {
              redis.disconnect();
            }
          }),
        );
        const owners = await this.slotOwners();
        const covered = owners.reduce((sum, r) => sum + (r.to - r.from + 1), 0);
        const primaries = new Set(owners.map((r) => r.port));
        const ok =
          states.every((s) => s.includes('cluster_state:ok')) &&
          covered === 16384 &&
          owners.every((r) => livePorts.has(r.port)) &&
          (expect.primaries === undefined || primaries.size === expect.primaries) &&
          (expect.replicasPerPrimary === undefined ||
            owners.every(
              (r) => r.replicas.filter((p) => livePorts.has(p)).length >= expect.replicasPerPrimary!,
            ));
        if (ok) return;
        last = `slots covered ${covered}, primaries ${[...primaries].join(' ')}, states ${states
          .map((s) => /cluster_state:(\w+)/.exec(s)?.[1])
          .join(' ')}`;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) throw new Error(`redis cluster not healthy: ${last}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Deletes every key under `prefix` on every primary. */
  async deleteKeys(prefix: string): Promise<void> {
    if (prefix.length < 3) throw new Error(`refusing to delete keys under the short prefix ${prefix}`);
    const owners = await this.slotOwners();
    for (const port of new Set(owners.map((o) => o.port))) {
      const redis = direct(port);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          // One key per DEL: a cluster node refuses a DEL whose keys are in different slots.
          for (const key of keys) await redis.del(key);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.port)));
    await rm(this.root, { recursive: true, force: true });
  }
}

/** A plain connection to one node (no cluster routing). */
function direct(port: number): Redis {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  return redis;
}

async function waitPing(port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      if ((await redis.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
    } finally {
      redis.disconnect();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `count` distinct free ports (held open together, so none is handed out twice). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

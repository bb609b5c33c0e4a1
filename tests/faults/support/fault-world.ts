import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connect, type NatsConnection } from 'nats';
import { signToken } from '@gavel/shared';
import {
  FaultProxy,
  PrivateNats,
  PrivatePostgres,
  PrivateRedis,
  freePort,
  spawnService,
  waitFor,
  type ServiceProcess,
} from '@gavel/shared/testing';

export type Service = 'api' | 'broadcast' | 'archival';
export type Dependency = 'redis' | 'nats' | 'postgres';
export type LinkName =
  | 'api->redis'
  | 'api->nats'
  | 'api->postgres'
  | 'broadcast->redis'
  | 'broadcast->nats'
  | 'archival->nats'
  | 'archival->postgres';

/** What each service talks to: every such link runs through a fault proxy of its own. */
export const LINKS: readonly LinkName[] = [
  'api->redis',
  'api->nats',
  'api->postgres',
  'broadcast->redis',
  'broadcast->nats',
  'archival->nats',
  'archival->postgres',
];

const ENTRIES: Readonly<Record<Service, string>> = {
  api: 'services/api/src/main.ts',
  broadcast: 'services/broadcast/src/main.ts',
  archival: 'services/archival/src/main.ts',
};

const URL_VARIABLE: Readonly<Record<Dependency, string>> = {
  redis: 'REDIS_URL',
  nats: 'NATS_URL',
  postgres: 'DATABASE_URL',
};

export interface Readiness {
  readonly status: number;
  readonly checks: Record<string, { ok: boolean }>;
}

/**
 * The whole stack on dependencies of its own: a redis-server with AOF, a nats-server with
 * JetStream and a PostgreSQL cluster, each on a free port, and archival, api and broadcast as
 * child processes, each reaching each dependency through its own FaultProxy. A test kills and
 * restarts services and dependencies, and cuts, stalls or holds links, without touching the
 * shared servers other tests use.
 */
export class FaultWorld {
  readonly secret = randomBytes(24).toString('base64url');
  private readonly processes = new Map<Service, ServiceProcess>();
  private readonly ports = new Map<Service, number>();
  /** Direct to the private PostgreSQL (never through a proxy), for assertions. */
  private verifyPool: pg.Pool | undefined;

  private constructor(
    readonly redis: PrivateRedis,
    readonly nats: PrivateNats,
    readonly postgres: PrivatePostgres,
    private readonly proxies: ReadonlyMap<LinkName, FaultProxy>,
    private readonly extraEnv: Partial<Record<Service, Record<string, string>>>,
  ) {}

  static async start(
    options: { env?: Partial<Record<Service, Record<string, string>>> } = {},
  ): Promise<FaultWorld> {
    const [redis, nats, postgres] = await Promise.all([
      PrivateRedis.start(),
      PrivateNats.start(),
      PrivatePostgres.start(),
    ]);
    const ports: Record<Dependency, number> = { redis: redis.port, nats: nats.port, postgres: postgres.port };
    const proxies = new Map<LinkName, FaultProxy>();
    for (const link of LINKS) {
      const dependency = link.split('->')[1] as Dependency;
      proxies.set(link, await FaultProxy.start({ port: ports[dependency] }));
    }
    const world = new FaultWorld(redis, nats, postgres, proxies, options.env ?? {});
    try {
      for (const service of ['api', 'broadcast', 'archival'] as const)
        world.ports.set(service, await freePort());
      // Archival applies the migrations before its /readyz answers; the api's history routes need them.
      await world.startService('archival');
      await Promise.all([world.startService('api'), world.startService('broadcast')]);
    } catch (err) {
      await world.stop();
      throw err;
    }
    return world;
  }

  link(name: LinkName): FaultProxy {
    const proxy = this.proxies.get(name);
    if (!proxy) throw new Error(`no link ${name}`);
    return proxy;
  }

  url(service: Service): string {
    return `http://127.0.0.1:${this.ports.get(service)}`;
  }

  private dependencyUrl(dependency: Dependency): string {
    return { redis: this.redis.url, nats: this.nats.url, postgres: this.postgres.url }[dependency];
  }

  /** The environment a process of `service` runs with: every dependency through its proxy. */
  env(service: Service, extra: Record<string, string> = {}): Record<string, string> {
    const links: Record<string, string> = {};
    for (const link of LINKS) {
      const [owner, dependency] = link.split('->') as [Service, Dependency];
      if (owner === service)
        links[URL_VARIABLE[dependency]] = this.link(link).urlFor(this.dependencyUrl(dependency));
    }
    const own: Record<Service, Record<string, string>> = {
      api: {
        DEV_TOKENS: 'true',
        AUTO_OPEN_ITEMS: 'false',
        BID_RATE_LIMIT_PER_S: '10000',
        // A dead relay's outbox entries are taken over quickly by the next process.
        OUTBOX_CLAIM_IDLE_MS: '1000',
        SHUTDOWN_TIMEOUT_MS: '5000',
      },
      broadcast: {
        CHAT_RATE_PER_S: '1000',
        EVENT_RATE_PER_S: '10000',
        PRESENCE_TTL_S: '3',
        RECONNECT_JITTER_MS: '200',
        DRAIN_TIMEOUT_S: '2',
        FEED_LINGER_MS: '1000',
      },
      archival: { ACK_WAIT_MS: '2000', BATCH_MAX_WAIT_MS: '20', MAX_DELIVERIES: '3' },
    };
    return {
      AUTH_MODE: 'jwt',
      AUTH_SECRET: this.secret,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      PORT: String(this.ports.get(service)),
      ...links,
      ...own[service],
      ...this.extraEnv[service],
      ...extra,
    };
  }

  /** Starts `service` on its port (a first start or a restart after a kill). */
  async startService(service: Service, extra: Record<string, string> = {}): Promise<ServiceProcess> {
    if (this.pids()[service] !== undefined) throw new Error(`${service} is running`);
    const port = this.ports.get(service) ?? 0;
    const proc = await spawnService(ENTRIES[service], this.env(service, extra), {
      port,
      // A loaded 2-core machine has taken minutes to start one (tsx compiles it at start).
      timeoutMs: 300_000,
      ...(service === 'archival' ? { readyPath: '/readyz' } : {}),
    });
    this.processes.set(service, proc);
    return proc;
  }

  process(service: Service): ServiceProcess {
    const proc = this.processes.get(service);
    if (!proc) throw new Error(`${service} was never started`);
    return proc;
  }

  /** kill -9 (or `signal`), waiting until the process is gone. */
  async killService(service: Service, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.processes.get(service)?.kill(signal);
  }

  async restartService(service: Service, extra: Record<string, string> = {}): Promise<ServiceProcess> {
    await this.killService(service);
    return this.startService(service, extra);
  }

  /** The service's /readyz, or status 0 when it does not answer. */
  async readiness(service: Service): Promise<Readiness> {
    try {
      const res = await fetch(`${this.url(service)}/readyz`, { signal: AbortSignal.timeout(10_000) });
      const body = (await res.json()) as { checks?: Readiness['checks'] };
      return { status: res.status, checks: body.checks ?? {} };
    } catch {
      return { status: 0, checks: {} };
    }
  }

  /** The api's /health (it reports NATS and PostgreSQL, which its /readyz leaves out). */
  async apiHealth(): Promise<Readiness & { state: string }> {
    const res = await fetch(`${this.url('api')}/health`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; checks: Readiness['checks'] };
    return { status: res.status, state: body.status, checks: body.checks };
  }

  /** Waits until /readyz of `service` says `ready`, and (when unready) names the failing check. */
  async waitReadiness(service: Service, ready: boolean, failing?: Dependency): Promise<Readiness> {
    return waitFor(
      async () => {
        const r = await this.readiness(service);
        if (ready) return r.status === 200 ? r : null;
        if (r.status !== 503) return null;
        return !failing || r.checks[failing]?.ok === false ? r : null;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: `${service} /readyz ${ready ? 'ready' : `unready (${failing})`}`,
      },
    );
  }

  token(userId: string): Promise<string> {
    return signToken(this.secret, userId, { expiresInSeconds: 3600 });
  }

  pool(): pg.Pool {
    if (!this.verifyPool) {
      this.verifyPool = new pg.Pool({ connectionString: this.postgres.url, max: 2 });
      // PostgreSQL restarts in some tests: an idle client losing its server must not throw.
      this.verifyPool.on('error', () => undefined);
    }
    return this.verifyPool;
  }

  /** A NATS connection straight to the private server, for reading the stream. */
  async natsClient(): Promise<NatsConnection> {
    return connect({ servers: this.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  }

  /** Pids of the running services: a recovery "without restarts" keeps them. */
  pids(): Record<Service, number | undefined> {
    const pid = (s: Service) => {
      const p = this.processes.get(s);
      return p && p.child.exitCode === null && p.child.signalCode === null ? p.child.pid : undefined;
    };
    return { api: pid('api'), broadcast: pid('broadcast'), archival: pid('archival') };
  }

  /** The tail of every service's output (for failure messages). */
  outputs(chars = 3000): string {
    return [...this.processes]
      .map(([service, p]) => `--- ${service} (pid ${p.child.pid}) ---\n${p.output().slice(-chars)}`)
      .join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => p.kill('SIGKILL')));
    await this.verifyPool?.end().catch(() => undefined);
    for (const proxy of this.proxies.values()) await proxy.close();
    await Promise.all([this.redis.stop(), this.nats.stop(), this.postgres.stop()]);
  }
}

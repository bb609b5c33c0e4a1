import { Chart, Duration, Size } from 'cdk8s';
import {
  Cpu,
  EnvValue,
  ImagePullPolicy,
  LabelSelector,
  PodManagementPolicy,
  Probe,
  Secret,
  Service,
  ServiceType,
  StatefulSet,
  Volume,
} from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import {
  PORTS,
  type ChartConfig,
  type InClusterDataStores,
  type SecretKeyRef,
  type Sizing,
} from '../config.js';
import { appLabels, selectorLabels } from '../constructs/labels.js';
import { completeRestrictedPod, mountTmp, restrictedContainerContext } from '../constructs/restricted-pod.js';
import { addDataVolumeClaim } from '../constructs/volume-claim.js';

/** A connection setting: either plain config (no credentials in it) or a key of a Secret. */
export type Setting = { readonly value: string } | { readonly secret: SecretKeyRef };

/** How services reach the data stores; the same in-cluster hostnames in both profiles. */
export interface DataStoreEndpoints {
  readonly redisUrl: Setting;
  /** REDIS_URL names a Redis Cluster (ElastiCache cluster mode): REDIS_CLUSTER=true. */
  readonly redisCluster: boolean;
  readonly databaseUrl: Setting;
  /** Extra variables from Secrets (kind: PGPASSWORD, which node-postgres reads by itself). */
  readonly secretEnv: Readonly<Record<string, SecretKeyRef>>;
  /** A CA bundle DATABASE_URL verifies the server with, mounted into every pod that reads it. */
  readonly databaseCa?: { readonly configMapName: string; readonly mountPath: string };
}

/** Both official images run as their `redis`/`postgres` user, uid 999, when started non-root. */
const STORE_UID = 999;
const STORE_SIZING: Sizing = {
  cpuRequestMillis: 50,
  cpuLimitMillis: 500,
  memoryRequestMi: 128,
  memoryLimitMi: 512,
};

/**
 * kind: Redis and PostgreSQL as single-replica StatefulSets with a volume each.
 * eks: ExternalName Services `redis` and `postgres` pointing at ElastiCache and RDS.
 */
export class DataStoresChart extends Chart {
  readonly redisService: Service;
  readonly postgresService: Service;
  readonly endpoints: DataStoreEndpoints;
  /** In-cluster store pods (kind only), for NetworkPolicies. */
  readonly redisPods?: StatefulSet;
  readonly postgresPods?: StatefulSet;

  constructor(scope: Construct, id: string, config: ChartConfig) {
    super(scope, id, { namespace: config.namespace });
    const stores = config.dataStores;
    if (stores.kind === 'external') {
      this.redisService = this.externalName('Redis', 'redis', stores.redis.host, stores.redis.port);
      this.postgresService = this.externalName(
        'Postgres',
        'postgres',
        stores.postgres.host,
        stores.postgres.port,
      );
      // The URLs carry credentials, so they come whole from the platform's Secrets.
      this.endpoints = {
        redisUrl: { secret: stores.redisUrl },
        redisCluster: stores.redisCluster,
        databaseUrl: { secret: stores.databaseUrl },
        secretEnv: {},
        databaseCa: {
          configMapName: stores.databaseCa.configMapName,
          mountPath: stores.databaseCa.mountPath,
        },
      };
      return;
    }

    const redis = this.inClusterRedis(stores, config.storageClassName);
    const postgres = this.inClusterPostgres(stores, config.storageClassName);
    this.redisService = redis.service;
    this.redisPods = redis.statefulSet;
    this.postgresService = postgres.service;
    this.postgresPods = postgres.statefulSet;
    this.endpoints = {
      redisUrl: { value: `redis://${this.redisService.name}:${PORTS.redis}` },
      redisCluster: false,
      // No password in the URL: node-postgres takes it from PGPASSWORD (a Secret reference).
      databaseUrl: { value: `postgres://postgres@${this.postgresService.name}:${PORTS.postgres}/gavel` },
      secretEnv: { PGPASSWORD: stores.postgresPassword },
    };
  }

  private externalName(id: string, name: string, host: string, port: number): Service {
    return new Service(this, id, {
      metadata: { name, labels: appLabels(name) },
      type: ServiceType.EXTERNAL_NAME,
      externalName: host,
      ports: [{ name: 'tcp', port }],
    });
  }

  private store(id: string, name: string, spec: StoreSpec) {
    const labels = appLabels(name);
    const service = new Service(this, `${id}Service`, {
      metadata: { name, labels },
      clusterIP: 'None',
      ports: [{ name: 'tcp', port: spec.port, targetPort: spec.port }],
    });
    const statefulSet = new StatefulSet(this, id, {
      metadata: { name, labels },
      podMetadata: { labels },
      select: false,
      service,
      replicas: 1,
      podManagementPolicy: PodManagementPolicy.ORDERED_READY,
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: true, user: STORE_UID, group: STORE_UID, fsGroup: STORE_UID },
    });
    statefulSet.select(LabelSelector.of({ labels: selectorLabels(name) }));
    const probe = (period: number, failureThreshold: number) =>
      Probe.fromCommand(spec.healthCommand, {
        periodSeconds: Duration.seconds(period),
        timeoutSeconds: Duration.seconds(5),
        failureThreshold,
      });
    const container = statefulSet.addContainer({
      name,
      image: spec.image,
      imagePullPolicy: ImagePullPolicy.IF_NOT_PRESENT,
      ports: [{ name: 'tcp', number: spec.port }],
      ...(spec.args ? { args: spec.args } : {}),
      envVariables: spec.env ?? {},
      resources: {
        cpu: {
          request: Cpu.millis(STORE_SIZING.cpuRequestMillis),
          limit: Cpu.millis(STORE_SIZING.cpuLimitMillis),
        },
        memory: {
          request: Size.mebibytes(STORE_SIZING.memoryRequestMi),
          limit: Size.mebibytes(STORE_SIZING.memoryLimitMi),
        },
      },
      securityContext: restrictedContainerContext(STORE_UID),
      startup: probe(2, 60),
      liveness: probe(10, 3),
      readiness: probe(5, 2),
    });
    mountTmp(statefulSet, container);
    for (const path of spec.writablePaths ?? []) {
      const volumeName = path.slice(1).replaceAll('/', '-');
      const volume = Volume.fromEmptyDir(statefulSet, volumeName, volumeName);
      container.mount(path, volume);
    }
    completeRestrictedPod(statefulSet);
    addDataVolumeClaim(statefulSet, {
      mountPath: spec.dataPath,
      sizeGi: spec.storageGi,
      ...(spec.storageClassName ? { storageClassName: spec.storageClassName } : {}),
    });
    return { service, statefulSet };
  }

  private inClusterRedis(stores: InClusterDataStores, storageClassName?: string) {
    return this.store('Redis', 'redis', {
      image: stores.redisImage,
      port: PORTS.redis,
      // Append-only file so a pod restart keeps open auctions; RDB snapshots add nothing here.
      args: ['redis-server', '--appendonly', 'yes', '--save', '', '--dir', '/data'],
      healthCommand: ['redis-cli', 'ping'],
      dataPath: '/data',
      storageGi: stores.storageGi,
      storageClassName,
    });
  }

  private inClusterPostgres(stores: InClusterDataStores, storageClassName?: string) {
    const password = Secret.fromSecretName(this, 'PostgresPassword', stores.postgresPassword.name);
    return this.store('Postgres', 'postgres', {
      image: stores.postgresImage,
      port: PORTS.postgres,
      env: {
        POSTGRES_DB: EnvValue.fromValue('gavel'),
        POSTGRES_PASSWORD: EnvValue.fromSecretValue({ secret: password, key: stores.postgresPassword.key }),
        // A subdirectory, because the volume root holds lost+found and initdb wants it empty.
        PGDATA: EnvValue.fromValue('/var/lib/postgresql/data/pgdata'),
      },
      healthCommand: ['pg_isready', '-U', 'postgres', '-h', '127.0.0.1'],
      dataPath: '/var/lib/postgresql/data',
      // The unix socket directory must be writable under a read-only root filesystem.
      writablePaths: ['/var/run/postgresql'],
      storageGi: stores.storageGi,
      storageClassName,
    });
  }
}

interface StoreSpec {
  readonly image: string;
  readonly port: number;
  readonly args?: string[];
  readonly env?: Record<string, EnvValue>;
  readonly healthCommand: string[];
  readonly dataPath: string;
  readonly writablePaths?: string[];
  readonly storageGi: number;
  readonly storageClassName?: string | undefined;
}

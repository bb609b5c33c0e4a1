import { LATENCY_NODE_POOL } from '@gavel/shared';
import { MONITORING_NAMESPACE } from './constructs/network-peers.js';
import type { ChartConfig, Sizing, Weights } from './config.js';
import { PlatformOutputsError, type PlatformOutputs } from './platform-outputs.js';

/** JetStream cluster image; pinned so every replica runs the same server version. */
export const NATS_IMAGE = 'nats:2.10.26-alpine';

/** Secrets scripts/kind-up.sh creates from random bytes (names only; never the values). */
export const KIND_SECRETS = {
  auth: { name: 'gavel-auth', key: 'AUTH_SECRET' },
  postgres: { name: 'gavel-postgres', key: 'POSTGRES_PASSWORD' },
} as const;

/** Image tag the kind workflow builds and side-loads (scripts/kind-up.sh). */
export const KIND_IMAGE_TAG = 'dev';

export interface ProfileOptions {
  readonly weights: Weights;
  /** @default false */
  readonly metricsAdapter?: boolean;
  /** @default false */
  readonly keda?: boolean;
  /** Prometheus Operator runs in the cluster: PodMonitors for every workload (eks). @default false */
  readonly podMonitors?: boolean;
}

const size = (
  cpuRequestMillis: number,
  cpuLimitMillis: number,
  memoryRequestMi: number,
  memoryLimitMi: number,
): Sizing => ({
  cpuRequestMillis,
  cpuLimitMillis,
  memoryRequestMi,
  memoryLimitMi,
});

const sharedEnv = {
  logLevel: 'info',
  bidStrategy: 'lua',
  authMode: 'jwt',
  natsStream: 'GAVEL',
  eventPrefix: 'gavel',
  redisPrefix: 'gavel:',
  drainTimeoutS: 30,
  chatRetentionHours: 168,
} as const;

/** A laptop cluster: everything in-cluster, small requests, no AWS anything. */
export function kindProfile(options: ProfileOptions): ChartConfig {
  const image = (name: string) => `gavel/${name}:${KIND_IMAGE_TAG}`;
  const small = size(50, 500, 96, 256);
  return {
    profile: 'kind',
    namespace: 'gavel',
    manageNamespace: true,
    images: {
      api: image('api'),
      broadcast: image('broadcast'),
      archival: image('archival'),
      latency: image('latency'),
      nats: NATS_IMAGE,
    },
    imagePullPolicy: 'IfNotPresent',
    sizing: {
      api: { resources: small, replicas: { min: 1, max: 3 } },
      broadcast: { resources: small, replicas: { min: 1, max: 3 } },
      archival: { resources: small, replicas: { min: 1, max: 2 } },
      latencyServer: { resources: small, replicas: { min: 1, max: 1 } },
      latencyClient: { resources: small, replicas: { min: 1, max: 2 } },
      nats: size(50, 500, 64, 256),
    },
    nats: { replicas: 3, storageGi: 1, maxFileStore: '800Mi', zoneSpread: false },
    metricsNamespace: MONITORING_NAMESPACE,
    env: { ...sharedEnv, devTokens: true, autoOpenItems: true, allowedOrigins: [] },
    authSecret: KIND_SECRETS.auth,
    dataStores: {
      kind: 'in-cluster',
      redisImage: 'redis:7.4.2-alpine',
      postgresImage: 'postgres:15.10-bookworm',
      storageGi: 1,
      postgresPassword: KIND_SECRETS.postgres,
    },
    ingress: { kind: 'nginx' },
    latencyPool: LATENCY_NODE_POOL,
    latencyClient: { connections: 50, rate: 100, durationS: 60 },
    weights: options.weights,
    features: {
      metricsAdapter: options.metricsAdapter ?? false,
      keda: options.keda ?? false,
      // On kind, Prometheus (if any) is yours to point at the pods; the setting is for EKS.
      podMonitors: false,
    },
    archivalConsumer: 'archival',
  };
}

export interface EksProfileOptions extends ProfileOptions {
  /** Tag of every Gavel image in ECR. */
  readonly imageTag: string;
  /** @default 'internet-facing' */
  readonly albScheme?: 'internet-facing' | 'internal';
  /** @default 'internet-facing' */
  readonly latencyNlbScheme?: 'internet-facing' | 'internal';
}

/** Amazon EKS: data stores, secrets, images and node pools come from the platform's outputs. */
export function eksProfile(outputs: PlatformOutputs, options: EksProfileOptions): ChartConfig {
  if (outputs.allowedOrigins.length === 0) {
    throw new PlatformOutputsError(
      `the platform outputs of stack ${outputs.stack} list no allowedOrigins, and broadcast would accept ` +
        `WebSockets from any web page: \`pulumi config set --path 'allowedOrigins[0]' https://<your host>\` in platform/, ` +
        '`pulumi up`, then write the outputs again',
    );
  }
  const image = (repo: string) => `${repo}:${options.imageTag}`;
  // One server per latency node: the HPA never asks for more pods than the pool has nodes.
  const latencyNodes = Math.max(1, outputs.nodePools.latency.maxSize);
  return {
    profile: 'eks',
    namespace: outputs.namespace,
    manageNamespace: false,
    images: {
      api: image(outputs.images.api),
      broadcast: image(outputs.images.broadcast),
      archival: image(outputs.images.archival),
      latency: image(outputs.images.latency),
      nats: NATS_IMAGE,
    },
    imagePullPolicy: 'IfNotPresent',
    sizing: {
      api: { resources: size(250, 1000, 256, 512), replicas: { min: 2, max: 10 } },
      // Memory grows with open sockets; the request is sized for ~10k connections per pod.
      broadcast: { resources: size(500, 2000, 512, 1024), replicas: { min: 2, max: 12 } },
      archival: { resources: size(100, 500, 192, 384), replicas: { min: 2, max: 6 } },
      // Guaranteed QoS on whole cores: the latency pool's static CPU manager gives the echo
      // server 8 exclusive CPUs (4 physical cores) of its m6i.8xlarge; nothing throttles it.
      latencyServer: { resources: size(8000, 8000, 8192, 8192), replicas: { min: 1, max: latencyNodes } },
      latencyClient: { resources: size(1000, 2000, 512, 1024), replicas: { min: 1, max: 8 } },
      nats: size(250, 1000, 512, 1024),
    },
    nats: { replicas: 3, storageGi: 20, maxFileStore: '18Gi', zoneSpread: true },
    storageClassName: outputs.storageClassName,
    ...(outputs.metricsNamespace ? { metricsNamespace: outputs.metricsNamespace } : {}),
    env: { ...sharedEnv, devTokens: false, autoOpenItems: false, allowedOrigins: outputs.allowedOrigins },
    authSecret: { name: outputs.authSecretName, key: 'AUTH_SECRET' },
    dataStores: {
      kind: 'external',
      postgres: { host: outputs.database.host, port: outputs.database.port },
      redis: { host: outputs.redis.host, port: outputs.redis.port },
      databaseUrl: { name: outputs.database.secretName, key: 'DATABASE_URL' },
      redisUrl: { name: outputs.redis.secretName, key: 'REDIS_URL' },
      redisCluster: outputs.redis.clusterMode,
      databaseCa: outputs.database.caBundle,
      vpcCidr: outputs.vpcCidr,
    },
    ingress: {
      kind: 'alb',
      scheme: options.albScheme ?? 'internet-facing',
      sourceCidr: outputs.vpcCidr,
      ...(outputs.certificateArn ? { certificateArn: outputs.certificateArn } : {}),
    },
    latencyLoadBalancer: {
      scheme: options.latencyNlbScheme ?? 'internet-facing',
      sourceCidr: outputs.vpcCidr,
    },
    latencyPool: outputs.nodePools.latency,
    ...(outputs.nodePools.latencyClients ? { latencyClientPool: outputs.nodePools.latencyClients } : {}),
    latencyClient: { connections: 1000, rate: 10000, durationS: 300 },
    ...(outputs.latencyLab
      ? {
          // Seed 000's load for each path: the same for all, so the percentiles compare.
          latencyLab: {
            lab: outputs.latencyLab,
            // Three interleaved rounds of 60 s per path: about 25 minutes for the seven paths.
            compare: {
              connections: 100,
              rate: 5000,
              payloadBytes: 256,
              warmupS: 10,
              durationS: 60,
              rounds: 3,
            },
          },
        }
      : {}),
    weights: options.weights,
    features: {
      metricsAdapter: options.metricsAdapter ?? false,
      keda: options.keda ?? false,
      podMonitors: options.podMonitors ?? false,
    },
    archivalConsumer: 'archival',
  };
}

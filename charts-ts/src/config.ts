import type { LatencyLab } from '@gavel/shared';
import type { Taint } from './platform-outputs.js';

/**
 * Everything the charts need to know about one target, resolved before any construct is made.
 * A profile (kind or eks) is a function that returns one of these; charts never branch on the
 * profile name, only on the values here.
 */

export type ProfileName = 'kind' | 'eks';

/** Blue/green split of the WebSocket tier, in percent. */
export interface Weights {
  readonly blue: number;
  readonly green: number;
}

export interface Sizing {
  /** CPU request in millicores. */
  readonly cpuRequestMillis: number;
  /** CPU limit in millicores. */
  readonly cpuLimitMillis: number;
  /** Memory request in MiB. */
  readonly memoryRequestMi: number;
  /** Memory limit in MiB. */
  readonly memoryLimitMi: number;
}

export interface ReplicaRange {
  readonly min: number;
  readonly max: number;
}

export interface ServiceSizing {
  readonly resources: Sizing;
  readonly replicas: ReplicaRange;
}

/** A key in a Secret that someone else (kind-up.sh or the platform) creates. */
export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
}

export interface NodePool {
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly Taint[];
}

/** In-cluster Redis and PostgreSQL StatefulSets (kind). */
export interface InClusterDataStores {
  readonly kind: 'in-cluster';
  readonly redisImage: string;
  readonly postgresImage: string;
  readonly storageGi: number;
  /** Secret with the PostgreSQL superuser password, created by scripts/kind-up.sh. */
  readonly postgresPassword: SecretKeyRef;
}

/** RDS and ElastiCache, reached through ExternalName Services (eks). */
export interface ExternalDataStores {
  readonly kind: 'external';
  readonly postgres: { readonly host: string; readonly port: number };
  readonly redis: { readonly host: string; readonly port: number };
  /** Secret key holding the full DATABASE_URL (credentials included), written by the platform. */
  readonly databaseUrl: SecretKeyRef;
  /** Secret key holding the full REDIS_URL (auth token included), written by the platform. */
  readonly redisUrl: SecretKeyRef;
  /** ElastiCache in cluster mode: the services connect with REDIS_CLUSTER=true. */
  readonly redisCluster: boolean;
  /** ConfigMap with the CA bundle DATABASE_URL's sslrootcert names, and where pods mount it. */
  readonly databaseCa: { readonly configMapName: string; readonly key: string; readonly mountPath: string };
  /** The VPC's block: RDS and ElastiCache addresses lie inside it. */
  readonly vpcCidr: string;
}

export interface NginxIngress {
  readonly kind: 'nginx';
}

export interface AlbIngress {
  readonly kind: 'alb';
  /** Where the ALB's nodes (and so every request's source address) live: the VPC. */
  readonly sourceCidr: string;
  readonly scheme: 'internet-facing' | 'internal';
  /** Without a certificate the ALB listens on HTTP only (no redirect). */
  readonly certificateArn?: string;
}

export interface LatencyLoadBalancer {
  readonly scheme: 'internet-facing' | 'internal';
  /** The NLB's own addresses (client IP preservation off): the VPC. */
  readonly sourceCidr: string;
}

export interface LatencyClientRun {
  readonly connections: number;
  readonly rate: number;
  readonly durationS: number;
}

/** The platform's latency lab across VPC boundaries (its latencyLabEnabled switch). */
export interface LatencyLabConfig {
  /** Its block of the platform outputs: target groups, client VPC, agent, every path. */
  readonly lab: LatencyLab;
  /** The load each path gets in a compare run (`kubectl create job --from=cronjob/latency-compare`). */
  readonly compare: LatencyClientRun & {
    readonly payloadBytes: number;
    readonly warmupS: number;
    /** Interleaved rounds over all paths, merged per path. */
    readonly rounds: number;
  };
}

export interface ChartConfig {
  readonly profile: ProfileName;
  readonly namespace: string;
  /**
   * Emit the Namespace object. On eks the platform creates it (with the Secrets in it), and two
   * owners of one object would fight over its labels.
   */
  readonly manageNamespace: boolean;
  readonly images: {
    readonly api: string;
    readonly broadcast: string;
    readonly archival: string;
    readonly latency: string;
    readonly nats: string;
  };
  /** `IfNotPresent` on kind (images are side-loaded), `Always` is not needed on eks (tags are immutable). */
  readonly imagePullPolicy: 'IfNotPresent' | 'Always';
  readonly sizing: {
    readonly api: ServiceSizing;
    readonly broadcast: ServiceSizing;
    readonly archival: ServiceSizing;
    readonly latencyServer: ServiceSizing;
    readonly latencyClient: ServiceSizing;
    readonly nats: Sizing;
  };
  readonly nats: {
    readonly replicas: number;
    readonly storageGi: number;
    /** Upper bound for JetStream file storage; must fit the volume. */
    readonly maxFileStore: string;
    /** Spread the peers over topology.kubernetes.io/zone (nodes must carry the label). */
    readonly zoneSpread: boolean;
  };
  /** StorageClass every volume claim names. @default - the cluster's default class (kind) */
  readonly storageClassName?: string;
  /** Namespace of the Prometheus allowed to scrape /metrics; none, none admitted. */
  readonly metricsNamespace?: string;
  /** Non-secret service configuration (SPEC "Environment"). */
  readonly env: {
    readonly logLevel: string;
    readonly bidStrategy: 'lua' | 'optimistic';
    readonly authMode: 'jwt' | 'open';
    readonly devTokens: boolean;
    readonly autoOpenItems: boolean;
    readonly natsStream: string;
    readonly eventPrefix: string;
    readonly redisPrefix: string;
    readonly drainTimeoutS: number;
    readonly chatRetentionHours: number;
    /** Browser Origins broadcast accepts; empty accepts any (kind only). */
    readonly allowedOrigins: readonly string[];
  };
  readonly authSecret: SecretKeyRef;
  readonly dataStores: InClusterDataStores | ExternalDataStores;
  readonly ingress: NginxIngress | AlbIngress;
  /** NLB in front of the latency server; absent on kind (ClusterIP only). */
  readonly latencyLoadBalancer?: LatencyLoadBalancer;
  /**
   * The platform's latency lab: its NLB and ALB take the latency server's pods through
   * TargetGroupBindings (replacing the controller's NLB), and a compare CronJob measures every path.
   */
  readonly latencyLab?: LatencyLabConfig;
  readonly latencyPool: NodePool;
  /** Dedicated pool for latency clients, preferred when the platform has one. */
  readonly latencyClientPool?: NodePool;
  readonly latencyClient: LatencyClientRun;
  readonly weights: Weights;
  readonly features: {
    /** A custom-metrics adapter serves `http_requests_per_second` per pod (api HPA uses it). */
    readonly metricsAdapter: boolean;
    /** KEDA is installed: archival scales on JetStream consumer lag instead of an HPA. */
    readonly keda: boolean;
    /** Prometheus Operator is installed: a PodMonitor per workload (eks only). */
    readonly podMonitors: boolean;
  };
  /** Durable consumer of the archival worker, for KEDA's lag query. */
  readonly archivalConsumer: string;
}

/**
 * Seconds a pod behind a load balancer sleeps in preStop so that endpoints and ALB/NLB target
 * groups drop it before it stops accepting work (the controller deregisters within seconds).
 */
export const PRE_STOP_SLEEP_S = 10;
/** Headroom after the drain for the process to close sockets and exit. */
export const EXIT_MARGIN_S = 10;

export const PORTS = {
  api: 8080,
  broadcast: 8081,
  archival: 8082,
  latencyServer: 8090,
  latencyClientMetrics: 9464,
  natsClient: 4222,
  natsCluster: 6222,
  natsMonitor: 8222,
  redis: 6379,
  postgres: 5432,
} as const;

/** Runtime user of the Gavel images (USER in the root Dockerfile). */
export const APP_UID = 10001;

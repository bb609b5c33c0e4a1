import { ApiObject, Chart, Duration } from 'cdk8s';
import {
  ConfigMap,
  EnvValue,
  Metric,
  MetricTarget,
  Replicas,
  Secret,
  type ScalingRules,
} from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { EXIT_MARGIN_S, PORTS, PRE_STOP_SLEEP_S, type ChartConfig, type SecretKeyRef } from '../config.js';
import { GavelService } from '../constructs/gavel-service.js';
import type { DataStoreEndpoints, Setting } from './data-stores-chart.js';

export const COLORS = ['blue', 'green'] as const;
export type Color = (typeof COLORS)[number];

export interface GavelChartProps {
  readonly config: ChartConfig;
  readonly dataStores: DataStoreEndpoints;
  /** NATS client URL, from the NATS chart's Service. */
  readonly natsUrl: string;
  /** NATS monitoring endpoint (host:port) for KEDA's JetStream scaler. */
  readonly natsMonitoring: string;
}

/** Name of the custom metric a metrics adapter serves per api pod. */
export const API_REQUESTS_METRIC = 'http_requests_per_second';

/**
 * The Gavel services: config, api, broadcast in two colours, and the archival worker.
 */
export class GavelChart extends Chart {
  readonly configMap: ConfigMap;
  readonly api: GavelService;
  readonly broadcast: Readonly<Record<Color, GavelService>>;
  readonly archival: GavelService;

  constructor(scope: Construct, id: string, props: GavelChartProps) {
    const { config, dataStores } = props;
    super(scope, id, { namespace: config.namespace });

    const plain: Record<string, string> = {
      LOG_LEVEL: config.env.logLevel,
      NATS_URL: props.natsUrl,
      NATS_STREAM: config.env.natsStream,
      EVENT_PREFIX: config.env.eventPrefix,
      // One stream replica per NATS node: losing a node loses no accepted bid.
      NATS_STREAM_REPLICAS: String(config.nats.replicas),
      // api and broadcast sit behind the ALB (eks) or ingress-nginx (kind): per-IP limits need X-Forwarded-For.
      TRUST_PROXY: 'true',
      REDIS_PREFIX: config.env.redisPrefix,
      // Wired from the platform's outputs: ElastiCache in cluster mode needs the cluster client.
      REDIS_CLUSTER: String(dataStores.redisCluster),
      AUTH_MODE: config.env.authMode,
      BID_STRATEGY: config.env.bidStrategy,
      DEV_TOKENS: String(config.env.devTokens),
      AUTO_OPEN_ITEMS: String(config.env.autoOpenItems),
      DRAIN_TIMEOUT_S: String(config.env.drainTimeoutS),
      CHAT_RETENTION_HOURS: String(config.env.chatRetentionHours),
      ...(config.env.allowedOrigins.length > 0
        ? { ALLOWED_ORIGINS: config.env.allowedOrigins.join(',') }
        : {}),
    };
    const secretRefs: Record<string, SecretKeyRef> = {
      AUTH_SECRET: config.authSecret,
      ...dataStores.secretEnv,
    };
    const addSetting = (name: string, setting: Setting) => {
      if ('value' in setting) plain[name] = setting.value;
      else secretRefs[name] = setting.secret;
    };
    addSetting('REDIS_URL', dataStores.redisUrl);
    addSetting('DATABASE_URL', dataStores.databaseUrl);

    this.configMap = new ConfigMap(this, 'Config', {
      metadata: { name: 'gavel-config', labels: { 'app.kubernetes.io/part-of': 'gavel' } },
      data: plain,
    });

    const secrets = new Map<string, Secret>();
    const fromSecret = (ref: SecretKeyRef) => {
      let secret = secrets.get(ref.name);
      if (!secret) {
        secret = Secret.fromSecretName(this, `Secret-${ref.name}`, ref.name) as Secret;
        secrets.set(ref.name, secret);
      }
      return EnvValue.fromSecretValue({ secret, key: ref.key });
    };
    /** Environment of a service: the named keys, each from the ConfigMap or its Secret. */
    const env = (...names: string[]): Record<string, EnvValue> =>
      Object.fromEntries(
        names.map((name) => {
          const ref = secretRefs[name];
          if (ref) return [name, fromSecret(ref)];
          if (!(name in plain)) throw new Error(`no setting named ${name}`);
          return [name, EnvValue.fromConfigMap(this.configMap, name)];
        }),
      );
    const nats = ['LOG_LEVEL', 'NATS_URL', 'NATS_STREAM', 'EVENT_PREFIX', 'NATS_STREAM_REPLICAS'];
    const redis = ['REDIS_PREFIX', 'REDIS_URL', 'REDIS_CLUSTER'];
    const postgres = ['DATABASE_URL', ...('PGPASSWORD' in secretRefs ? ['PGPASSWORD'] : [])];
    // Pods that read DATABASE_URL mount the CA bundle its sslrootcert names.
    const databaseCa = dataStores.databaseCa
      ? {
          configMapMounts: [
            {
              configMapName: dataStores.databaseCa.configMapName,
              mountPath: dataStores.databaseCa.mountPath,
            },
          ],
        }
      : {};
    const preStop = {
      // preStop first (leave endpoints and target groups), then SIGTERM starts the drain.
      preStopSleepS: PRE_STOP_SLEEP_S,
    };

    const apiMetrics = [Metric.resourceCpu(MetricTarget.averageUtilization(70))];
    if (config.features.metricsAdapter) {
      apiMetrics.push(Metric.pods({ name: API_REQUESTS_METRIC, target: MetricTarget.averageValue(200) }));
    }
    this.api = new GavelService(this, 'Api', {
      name: 'api',
      app: 'api',
      image: config.images.api,
      imagePullPolicy: config.imagePullPolicy,
      port: PORTS.api,
      env: env(
        ...nats,
        ...redis,
        ...postgres,
        'AUTH_MODE',
        'AUTH_SECRET',
        'BID_STRATEGY',
        'DEV_TOKENS',
        'AUTO_OPEN_ITEMS',
        'TRUST_PROXY',
      ),
      sizing: config.sizing.api,
      autoscaling: { metrics: apiMetrics },
      disruptionBudget: true,
      ...preStop,
      ...databaseCa,
      // The ALB keeps a deregistering target's connections this long (default 300 s), shorter
      // than the pod's 30 s grace period, so no request is cut by the kill.
      serviceAnnotations:
        config.ingress.kind === 'alb'
          ? { 'alb.ingress.kubernetes.io/target-group-attributes': 'deregistration_delay.timeout_seconds=20' }
          : {},
    });

    // Sockets are long-lived: scale down slowly, one pod at a time, so reconnect storms stay small.
    const broadcastScaleDown: ScalingRules = {
      stabilizationWindow: Duration.minutes(10),
      policies: [{ replicas: Replicas.absolute(1), duration: Duration.minutes(2) }],
    };
    const drainS = config.env.drainTimeoutS;
    const broadcast = (color: Color) =>
      new GavelService(this, `Broadcast-${color}`, {
        name: `broadcast-${color}`,
        app: 'broadcast',
        variantLabels: { 'gavel.io/color': color },
        image: config.images.broadcast,
        imagePullPolicy: config.imagePullPolicy,
        port: PORTS.broadcast,
        env: {
          ...env(
            ...nats,
            ...redis,
            ...postgres,
            'AUTH_MODE',
            'AUTH_SECRET',
            'DRAIN_TIMEOUT_S',
            // Behind the ALB every client would otherwise share its address (the per-address cap).
            'TRUST_PROXY',
            ...('ALLOWED_ORIGINS' in plain ? ['ALLOWED_ORIGINS'] : []),
          ),
          BROADCAST_COLOR: EnvValue.fromValue(color),
        },
        sizing: config.sizing.broadcast,
        autoscaling: {
          metrics: [
            Metric.resourceCpu(MetricTarget.averageUtilization(60)),
            Metric.resourceMemory(MetricTarget.averageUtilization(70)),
          ],
          scaleDown: broadcastScaleDown,
        },
        disruptionBudget: true,
        // After the preStop sleep, SIGTERM starts the drain: readiness goes false, clients get
        // server:draining and reconnect elsewhere.
        ...preStop,
        ...databaseCa,
        terminationGracePeriod: Duration.seconds(PRE_STOP_SLEEP_S + drainS + EXIT_MARGIN_S),
        serviceAnnotations: config.ingress.kind === 'alb' ? broadcastTargetGroupAnnotations(drainS) : {},
      });
    this.broadcast = { blue: broadcast('blue'), green: broadcast('green') };

    this.archival = new GavelService(this, 'Archival', {
      name: 'archival',
      app: 'archival',
      image: config.images.archival,
      imagePullPolicy: config.imagePullPolicy,
      port: PORTS.archival,
      // The worker reads NATS and writes PostgreSQL only: no Redis credentials.
      env: env(...nats, ...postgres, 'CHAT_RETENTION_HOURS'),
      ...databaseCa,
      sizing: config.sizing.archival,
      ...(config.features.keda
        ? { externallyScaled: true }
        : { autoscaling: { metrics: [Metric.resourceCpu(MetricTarget.averageUtilization(70))] } }),
    });
    if (config.features.keda) {
      this.jetStreamLagScaler(config, props.natsMonitoring);
    }
  }

  /** KEDA ScaledObject on the archival consumer's pending messages (a CRD: plain ApiObject). */
  private jetStreamLagScaler(config: ChartConfig, natsMonitoring: string): void {
    new ApiObject(this, 'ArchivalScaler', {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'archival', labels: this.archival.deployment.matchLabels },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: this.archival.deployment.name },
        minReplicaCount: config.sizing.archival.replicas.min,
        maxReplicaCount: config.sizing.archival.replicas.max,
        triggers: [
          {
            type: 'nats-jetstream',
            metadata: {
              natsServerMonitoringEndpoint: natsMonitoring,
              account: '$G',
              stream: config.env.natsStream,
              consumer: config.archivalConsumer,
              lagThreshold: '500',
            },
          },
          // CPU as a floor signal, so a backlog-free but busy worker still scales.
          { type: 'cpu', metricType: 'Utilization', metadata: { value: '70' } },
        ],
      },
    });
  }
}

/**
 * Read by the AWS Load Balancer Controller from the Service: the deregistration delay lets a
 * draining pod's sockets finish; stickiness keeps Socket.IO polling on one pod.
 */
function broadcastTargetGroupAnnotations(drainS: number): Record<string, string> {
  return {
    'alb.ingress.kubernetes.io/target-group-attributes': [
      `deregistration_delay.timeout_seconds=${drainS}`,
      'stickiness.enabled=true',
      'stickiness.type=lb_cookie',
      'stickiness.lb_cookie.duration_seconds=3600',
    ].join(','),
    'alb.ingress.kubernetes.io/healthcheck-path': '/readyz',
  };
}

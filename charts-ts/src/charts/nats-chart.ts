import { ApiObject, Chart, Duration, JsonPatch, Size } from 'cdk8s';
import {
  ConfigMap,
  Cpu,
  EnvFieldPaths,
  EnvValue,
  Handler,
  ImagePullPolicy,
  LabelSelector,
  PodManagementPolicy,
  Probe,
  Service,
  ServiceAccount,
  StatefulSet,
  Volume,
} from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { APP_UID, PORTS, type ChartConfig } from '../config.js';
import { appLabels, selectorLabels } from '../constructs/labels.js';
import { PodDisruptionBudget } from '../constructs/pod-disruption-budget.js';
import { completeRestrictedPod, mountTmp, restrictedContainerContext } from '../constructs/restricted-pod.js';
import { addDataVolumeClaim } from '../constructs/volume-claim.js';

/**
 * nats.conf fields that the pinned image (NATS_IMAGE, 2.10) understands and nats-server 2.9 does
 * not: `jetstream.sync_interval` arrived in 2.10. The config test validates the rest with an
 * older local server and proves these are the only difference.
 */
export const FIELDS_SINCE_2_10 = ['sync_interval'] as const;

const NAME = 'nats';
const TOPOLOGY_ZONE = 'topology.kubernetes.io/zone';
const CONFIG_PATH = '/etc/nats';
const PID_DIR = '/var/run/nats';

/**
 * NATS as a 3-node JetStream cluster: StatefulSet with a volume per node, a headless Service for
 * the cluster routes (stable per-pod DNS), a client Service, and a PDB that keeps quorum.
 */
export class NatsChart extends Chart {
  readonly clientService: Service;
  readonly statefulSet: StatefulSet;
  readonly config: ConfigMap;

  constructor(scope: Construct, id: string, config: ChartConfig) {
    super(scope, id, { namespace: config.namespace });
    const labels = appLabels(NAME);
    const headless = new Service(this, 'Headless', {
      metadata: { name: `${NAME}-headless`, labels },
      clusterIP: 'None',
      ports: [
        { name: 'client', port: PORTS.natsClient },
        { name: 'cluster', port: PORTS.natsCluster },
        { name: 'monitor', port: PORTS.natsMonitor },
      ],
    });
    // Routes must resolve while peers are still starting, before any of them is Ready.
    ApiObject.of(headless).addJsonPatch(JsonPatch.add('/spec/publishNotReadyAddresses', true));

    const routes = Array.from(
      { length: config.nats.replicas },
      (_, i) => `nats://${NAME}-${i}.${headless.name}:${PORTS.natsCluster}`,
    );
    this.config = new ConfigMap(this, 'Config', {
      metadata: { name: `${NAME}-config`, labels },
      data: { 'nats.conf': natsConf(config, routes) },
    });

    const serviceAccount = new ServiceAccount(this, 'ServiceAccount', {
      metadata: { name: NAME, labels },
      automountToken: false,
    });
    this.statefulSet = new StatefulSet(this, 'StatefulSet', {
      metadata: { name: NAME, labels },
      podMetadata: { labels },
      select: false,
      service: headless,
      replicas: config.nats.replicas,
      // All three must be up to form the cluster; ordered start would wait on readiness forever.
      podManagementPolicy: PodManagementPolicy.PARALLEL,
      serviceAccount,
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: true, user: APP_UID, group: APP_UID, fsGroup: APP_UID },
      // Lame-duck mode (preStop) moves clients away and hands off stream leadership first.
      terminationGracePeriod: Duration.seconds(60),
    });
    this.statefulSet.select(LabelSelector.of({ labels: selectorLabels(NAME) }));
    // As the official chart does: no two peers on one node, and the peers spread evenly over
    // the zones (with 3 zones, one each), so a node or a zone lost costs at most one replica of
    // the R3 streams. Each volume is zonal; WaitForFirstConsumer creates it where the pod lands.
    // Tainted nodes (the latency pools) hold no peer: Honor keeps them out of the skew count,
    // or their zero would forbid a second peer anywhere. kind's nodes carry no zone label.
    const spreadKeys = config.nats.zoneSpread
      ? [TOPOLOGY_ZONE, 'kubernetes.io/hostname']
      : ['kubernetes.io/hostname'];
    ApiObject.of(this.statefulSet).addJsonPatch(
      JsonPatch.add(
        '/spec/template/spec/topologySpreadConstraints',
        spreadKeys.map((topologyKey) => ({
          topologyKey,
          maxSkew: 1,
          whenUnsatisfiable: 'DoNotSchedule',
          nodeTaintsPolicy: 'Honor',
          labelSelector: { matchLabels: selectorLabels(NAME) },
        })),
      ),
    );

    const { nats: size } = config.sizing;
    const healthz = (query: string, period: number, failureThreshold: number) =>
      Probe.fromHttpGet(`/healthz${query}`, {
        port: PORTS.natsMonitor,
        periodSeconds: Duration.seconds(period),
        timeoutSeconds: Duration.seconds(5),
        failureThreshold,
      });
    const container = this.statefulSet.addContainer({
      name: NAME,
      image: config.images.nats,
      imagePullPolicy: ImagePullPolicy.IF_NOT_PRESENT,
      args: ['--config', `${CONFIG_PATH}/nats.conf`],
      ports: [
        { name: 'client', number: PORTS.natsClient },
        { name: 'cluster', number: PORTS.natsCluster },
        { name: 'monitor', number: PORTS.natsMonitor },
      ],
      envVariables: {
        // nats.conf reads $POD_NAME for server_name: a stable identity per replica.
        POD_NAME: EnvValue.fromFieldRef(EnvFieldPaths.POD_NAME),
        // Go's GC limit below the container limit, so the server slows down instead of being OOM-killed.
        GOMEMLIMIT: EnvValue.fromValue(`${Math.floor(size.memoryLimitMi * 0.9)}MiB`),
      },
      resources: {
        cpu: { request: Cpu.millis(size.cpuRequestMillis), limit: Cpu.millis(size.cpuLimitMillis) },
        memory: { request: Size.mebibytes(size.memoryRequestMi), limit: Size.mebibytes(size.memoryLimitMi) },
      },
      securityContext: restrictedContainerContext(APP_UID),
      // Started means healthy with JetStream caught up (full /healthz), as the official chart
      // probes it: otherwise a rolling restart moves on while this peer still replays its streams.
      startup: healthz('', 10, 90),
      liveness: healthz('?js-enabled-only=true', 10, 3),
      readiness: healthz('?js-server-only=true', 5, 3),
      lifecycle: { preStop: Handler.fromCommand(['nats-server', `--signal`, `ldm=${PID_DIR}/nats.pid`]) },
    });
    container.mount(
      CONFIG_PATH,
      Volume.fromConfigMap(this, 'ConfigVolume', this.config, { name: 'config' }),
      {
        readOnly: true,
      },
    );
    container.mount(PID_DIR, Volume.fromEmptyDir(this, 'PidVolume', 'pid'));
    mountTmp(this.statefulSet, container);
    completeRestrictedPod(this.statefulSet);
    addDataVolumeClaim(this.statefulSet, {
      mountPath: '/data',
      sizeGi: config.nats.storageGi,
      ...(config.storageClassName ? { storageClassName: config.storageClassName } : {}),
    });

    this.clientService = new Service(this, 'Client', {
      metadata: { name: NAME, labels },
      selector: this.statefulSet,
      ports: [
        { name: 'client', port: PORTS.natsClient, targetPort: PORTS.natsClient },
        { name: 'monitor', port: PORTS.natsMonitor, targetPort: PORTS.natsMonitor },
      ],
    });

    new PodDisruptionBudget(this, 'DisruptionBudget', {
      name: NAME,
      workload: this.statefulSet,
      maxUnavailable: 1,
    });
  }

  /** Client URL for the services, built from the Service rather than typed. */
  get url(): string {
    return `nats://${this.clientService.name}:${PORTS.natsClient}`;
  }
}

/** nats.conf of the cluster (exported for the nats-server config test). */
export function natsConf(config: ChartConfig, routes: string[]): string {
  return `# Generated by charts-ts (nats-chart.ts); edit there.
server_name: $POD_NAME
listen: 0.0.0.0:${PORTS.natsClient}
http: 0.0.0.0:${PORTS.natsMonitor}
pid_file: "${PID_DIR}/nats.pid"
max_payload: 1MB
lame_duck_duration: 30s
lame_duck_grace_period: 10s

jetstream {
  store_dir: /data/jetstream
  max_memory_store: 0
  max_file_store: ${config.nats.maxFileStore}
  # Durability choice: fsync every write before it is acknowledged. A bid is acknowledged to the
  # bidder only after JetStream acks it, and with R3 streams that ack means a quorum holds it on
  # disk, so a zone losing power together cannot lose an accepted bid. The default (a 2-minute
  # batched fsync) relies on replication alone; bids and chat are small, so the cost is modest.
  sync_interval: always
}

cluster {
  name: gavel
  listen: 0.0.0.0:${PORTS.natsCluster}
  routes: [
${routes.map((r) => `    ${r}`).join('\n')}
  ]
  connect_retries: 120
  # Clients get only the client Service's address, never the pods' own IPs from gossip.
  no_advertise: true
}
`;
}

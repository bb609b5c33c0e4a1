import { ApiObject, Chart, JsonPatch } from 'cdk8s';
import {
  EnvValue,
  Metric,
  MetricTarget,
  Node,
  NodeLabelQuery,
  NodeTaintQuery,
  Service,
  ServiceType,
  TaintEffect,
  Topology,
  type Workload,
} from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import {
  PORTS,
  PRE_STOP_SLEEP_S,
  type ChartConfig,
  type LatencyLoadBalancer,
  type NodePool,
} from '../config.js';
import { GavelService } from '../constructs/gavel-service.js';
import { LatencyCompareJob } from '../constructs/latency-compare-job.js';
import { LatencyLabBindings } from '../constructs/latency-lab-bindings.js';

const EFFECTS: Record<string, TaintEffect> = {
  NoSchedule: TaintEffect.NO_SCHEDULE,
  PreferNoSchedule: TaintEffect.PREFER_NO_SCHEDULE,
  NoExecute: TaintEffect.NO_EXECUTE,
};

function tolerate(workload: Workload, pool: NodePool): void {
  for (const taint of pool.taints) {
    const effect = EFFECTS[taint.effect];
    workload.scheduling.tolerate(
      Node.tainted(NodeTaintQuery.is(taint.key, taint.value, effect ? { effect } : {})),
    );
  }
}

/**
 * The latency lab (seed 000): the echo server alone on the latency node pool (m6i.8xlarge on
 * EKS), one pod per node, reachable by ClusterIP and by an NLB; the load client anywhere else.
 */
export class LatencyChart extends Chart {
  readonly server: GavelService;
  readonly client: GavelService;
  readonly loadBalancer?: Service;
  /** With the platform's latency lab: its target group bindings and the compare CronJob. */
  readonly lab?: { readonly bindings: LatencyLabBindings; readonly compare: LatencyCompareJob };

  constructor(scope: Construct, id: string, config: ChartConfig) {
    super(scope, id, { namespace: config.namespace });
    const logLevel = { LOG_LEVEL: EnvValue.fromValue(config.env.logLevel) };

    this.server = new GavelService(this, 'Server', {
      name: 'latency-server',
      app: 'latency-server',
      image: config.images.latency,
      imagePullPolicy: config.imagePullPolicy,
      port: PORTS.latencyServer,
      env: logLevel,
      sizing: config.sizing.latencyServer,
      // Never more pods than latency nodes (the platform's pool size): one server per node.
      autoscaling: { metrics: [Metric.resourceCpu(MetricTarget.averageUtilization(70))] },
      // The NLB registers pod IPs: leave its target group before the server stops.
      preStopSleepS: PRE_STOP_SLEEP_S,
    });
    const server = this.server.deployment;
    // Pinned by nodeSelector (exact label match) plus a toleration for the pool's taint.
    ApiObject.of(server).addJsonPatch(
      JsonPatch.add('/spec/template/spec/nodeSelector', { ...config.latencyPool.labels }),
    );
    tolerate(server, config.latencyPool);
    // One server per node: two would share the NIC and the cores being measured.
    server.scheduling.spread({ topology: Topology.HOSTNAME });

    if (config.latencyLab) {
      // The lab's NLB and ALB (the platform's, so PrivateLink can publish the NLB) stand in for
      // the controller's NLB: one set of load balancers per path, none paid for twice.
      this.lab = {
        bindings: new LatencyLabBindings(this, 'Lab', {
          lab: config.latencyLab.lab,
          server,
          service: this.server.service!,
        }),
        compare: new LatencyCompareJob(this, 'Compare', {
          config: config.latencyLab,
          image: config.images.latency,
          imagePullPolicy: config.imagePullPolicy,
          sizing: config.sizing.latencyClient.resources,
          latencyPool: config.latencyPool,
          ...(config.latencyClientPool ? { clientPool: config.latencyClientPool } : {}),
        }),
      };
    } else if (config.latencyLoadBalancer) {
      this.loadBalancer = new Service(this, 'LoadBalancer', {
        metadata: {
          name: 'latency-server-nlb',
          labels: server.matchLabels,
          annotations: nlbAnnotations(config.latencyLoadBalancer),
        },
        type: ServiceType.LOAD_BALANCER,
        selector: server,
        ports: [{ name: 'ws', port: PORTS.latencyServer, targetPort: PORTS.latencyServer }],
      });
    }

    const target = `ws://${this.server.service!.name}:${PORTS.latencyServer}/echo`;
    const run = config.latencyClient;
    this.client = new GavelService(this, 'Client', {
      name: 'latency-client',
      app: 'latency-client',
      image: config.images.latency,
      imagePullPolicy: config.imagePullPolicy,
      port: PORTS.latencyClientMetrics,
      // Same image as the server, other entry point.
      command: [
        'node',
        'dist/cli.js',
        'run',
        '--target',
        target,
        '--label',
        'clusterip',
        '--connections',
        String(run.connections),
        '--rate',
        String(run.rate),
        '--duration',
        String(run.durationS),
        '--serve-metrics',
        String(PORTS.latencyClientMetrics),
        '--loop',
        '--no-progress',
      ],
      env: logLevel,
      sizing: config.sizing.latencyClient,
      service: false,
      autoscaling: { metrics: [Metric.resourceCpu(MetricTarget.averageUtilization(70))] },
    });
    const client = this.client.deployment;
    // Never on the latency pool: a client there would steal the cores it is measuring.
    for (const [key, value] of Object.entries(config.latencyPool.labels)) {
      client.scheduling.attract(Node.labeled(NodeLabelQuery.notIn(key, [value])));
    }
    if (config.latencyClientPool) {
      for (const [key, value] of Object.entries(config.latencyClientPool.labels)) {
        client.scheduling.attract(Node.labeled(NodeLabelQuery.is(key, value)), { weight: 100 });
      }
      tolerate(client, config.latencyClientPool);
    }
  }
}

/** AWS Load Balancer Controller: NLB with pod IP targets, cross-zone, health on /readyz. */
function nlbAnnotations(lb: LatencyLoadBalancer): Record<string, string> {
  return {
    'service.beta.kubernetes.io/aws-load-balancer-type': 'external',
    'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
    'service.beta.kubernetes.io/aws-load-balancer-scheme': lb.scheme,
    'service.beta.kubernetes.io/aws-load-balancer-attributes': 'load_balancing.cross_zone.enabled=true',
    // Sources stay the NLB's VPC addresses, which is what the NetworkPolicy admits.
    'service.beta.kubernetes.io/aws-load-balancer-target-group-attributes':
      'preserve_client_ip.enabled=false',
    'service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol': 'http',
    'service.beta.kubernetes.io/aws-load-balancer-healthcheck-port': 'traffic-port',
    'service.beta.kubernetes.io/aws-load-balancer-healthcheck-path': '/readyz',
  };
}

import { Chart } from 'cdk8s';
import { LATENCY_AGENT_PORT } from '@gavel/shared';
import {
  NetworkPolicy,
  NetworkPolicyPort,
  Pods,
  type INetworkPolicyPeer,
  type IPodSelector,
} from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { PORTS, type ChartConfig } from '../config.js';
import {
  addressBlock,
  anywhere,
  INGRESS_NGINX_NAMESPACE,
  KEDA_NAMESPACE,
  namespaceNamed,
} from '../constructs/network-peers.js';
import type { DataStoresChart } from './data-stores-chart.js';
import type { GavelChart } from './gavel-chart.js';
import type { LatencyChart } from './latency-chart.js';
import type { NatsChart } from './nats-chart.js';

export interface NetworkPoliciesChartProps {
  readonly config: ChartConfig;
  readonly gavel: GavelChart;
  readonly nats: NatsChart;
  readonly dataStores: DataStoresChart;
  readonly latency: LatencyChart;
}

type Target = IPodSelector & INetworkPolicyPeer;
interface Flow {
  readonly peer: INetworkPolicyPeer;
  readonly port: number;
}

/**
 * The explicit allows on top of the namespace's default deny (network-baseline-chart.ts): one
 * policy per workload listing who may reach it and what it may reach, peers by reference.
 */
export class NetworkPoliciesChart extends Chart {
  constructor(scope: Construct, id: string, props: NetworkPoliciesChartProps) {
    const { config, gavel, nats, dataStores, latency } = props;
    super(scope, id, { namespace: config.namespace });

    const tcp = (port: number) => NetworkPolicyPort.tcp(port);
    const allow = (name: string, target: Target, ingress: Flow[], egress: Flow[]) =>
      new NetworkPolicy(this, name, {
        metadata: { name: `allow-${name}` },
        selector: target,
        ingress: { rules: ingress.map((f) => ({ peer: f.peer, ports: [tcp(f.port)] })) },
        egress: { rules: egress.map((f) => ({ peer: f.peer, ports: [tcp(f.port)] })) },
      });

    // Scrapes of /metrics, from the namespace of the Prometheus there is (none: no such rule).
    const scraper = config.metricsNamespace
      ? namespaceNamed(this, 'Monitoring', config.metricsNamespace)
      : undefined;
    const scrape = (port: number): Flow[] => (scraper ? [{ peer: scraper, port }] : []);
    // Where public traffic comes from: the ALB in ip mode (its nodes' VPC addresses), or ingress-nginx.
    const edge =
      config.ingress.kind === 'alb'
        ? addressBlock(this, 'Edge', config.ingress.sourceCidr)
        : namespaceNamed(this, 'IngressNginx', INGRESS_NGINX_NAMESPACE);
    const api = gavel.api.deployment;
    const broadcasts = [gavel.broadcast.blue.deployment, gavel.broadcast.green.deployment];
    const archival = gavel.archival.deployment;
    const natsPods = nats.statefulSet;
    const latencyServer = latency.server.deployment;
    const latencyClient = latency.client.deployment;

    // In-cluster stores are pods; RDS and ElastiCache are VPC addresses outside the cluster.
    const outside =
      config.dataStores.kind === 'external'
        ? addressBlock(this, 'Vpc', config.dataStores.vpcCidr)
        : undefined;
    const redisPeer = dataStores.redisPods ?? outside!;
    const postgresPeer = dataStores.postgresPods ?? outside!;
    const redis: Flow = { peer: redisPeer, port: PORTS.redis };
    const postgres: Flow = { peer: postgresPeer, port: PORTS.postgres };
    const natsClient: Flow = { peer: natsPods, port: PORTS.natsClient };

    allow(
      'api',
      api,
      [{ peer: edge, port: PORTS.api }, { peer: latencyClient, port: PORTS.api }, ...scrape(PORTS.api)],
      [redis, postgres, natsClient],
    );
    for (const broadcast of broadcasts) {
      allow(
        broadcast.name,
        broadcast,
        [
          { peer: edge, port: PORTS.broadcast },
          { peer: latencyClient, port: PORTS.broadcast },
          ...scrape(PORTS.broadcast),
        ],
        [redis, postgres, natsClient],
      );
    }
    allow('archival', archival, scrape(PORTS.archival), [postgres, natsClient]);

    const natsIngress: Flow[] = [
      ...[api, ...broadcasts, archival].map((peer) => ({ peer, port: PORTS.natsClient })),
      { peer: natsPods, port: PORTS.natsCluster },
      ...scrape(PORTS.natsMonitor),
    ];
    if (config.features.keda)
      natsIngress.push({ peer: namespaceNamed(this, 'Keda', KEDA_NAMESPACE), port: PORTS.natsMonitor });
    allow('nats', natsPods, natsIngress, [{ peer: natsPods, port: PORTS.natsCluster }]);

    // The lab's compare Job: the server directly (pod IP, ClusterIP), the lab NLB and ALB in the
    // VPC, and the agent in the client VPC across the peering.
    const labCompare = latency.lab
      ? Pods.select(this, 'LatencyCompare', { labels: latency.lab.compare.podLabels })
      : undefined;
    if (labCompare && config.latencyLab && config.latencyLoadBalancer) {
      allow(
        'latency-compare',
        labCompare,
        [],
        [
          { peer: latencyServer, port: PORTS.latencyServer },
          {
            peer: addressBlock(this, 'LabLoadBalancers', config.latencyLoadBalancer.sourceCidr),
            port: PORTS.latencyServer,
          },
          {
            peer: addressBlock(this, 'ClientVpc', config.latencyLab.lab.clientVpcCidr),
            port: LATENCY_AGENT_PORT,
          },
        ],
      );
    }
    allow(
      'latency-server',
      latencyServer,
      [
        { peer: latencyClient, port: PORTS.latencyServer },
        ...(labCompare ? [{ peer: labCompare, port: PORTS.latencyServer }] : []),
        // The NLB's own VPC addresses: ip targets with client IP preservation off (the default).
        ...(config.latencyLoadBalancer
          ? [
              {
                peer: addressBlock(this, 'Nlb', config.latencyLoadBalancer.sourceCidr),
                port: PORTS.latencyServer,
              },
            ]
          : []),
        ...scrape(PORTS.latencyServer),
      ],
      [],
    );
    const viaLoadBalancers: Flow[] =
      config.ingress.kind === 'alb'
        ? [80, 443, PORTS.latencyServer].map((port) => ({ peer: anywhere(this, `Public${port}`), port }))
        : [];
    allow('latency-client', latencyClient, scrape(PORTS.latencyClientMetrics), [
      { peer: latencyServer, port: PORTS.latencyServer },
      { peer: api, port: PORTS.api },
      ...broadcasts.map((peer) => ({ peer, port: PORTS.broadcast })),
      ...viaLoadBalancers,
    ]);

    if (dataStores.redisPods) {
      allow(
        'redis',
        dataStores.redisPods,
        [api, ...broadcasts].map((peer) => ({ peer, port: PORTS.redis })),
        [],
      );
    }
    if (dataStores.postgresPods) {
      allow(
        'postgres',
        dataStores.postgresPods,
        [api, ...broadcasts, archival].map((peer) => ({ peer, port: PORTS.postgres })),
        [],
      );
    }
  }
}

import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { PROMETHEUS_NAMESPACE, sloAlarmSpecs } from './app-slo-alarms.js';

export interface AlarmsArgs {
  readonly region: string;
  readonly clusterName: string;
  /** Subscribe this address to the topic. @default '' (no subscription) */
  readonly email?: string;
  readonly database: {
    readonly instanceId: pulumi.Input<string>;
    readonly allocatedStorageGb: number;
    readonly connectionsThreshold: number;
  };
  /** ElastiCache member cluster ids; Redis metrics are per member. */
  readonly cacheClusterIds: string[];
  /** Container Insights is installed, so node health metrics exist. */
  readonly containerInsights: boolean;
  /** Namespace of the Gavel workloads (a dimension of their Prometheus metrics). */
  readonly appNamespace: string;
}

interface AlarmSpec {
  readonly name: string;
  readonly description: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Record<string, pulumi.Input<string>>;
  readonly statistic: 'Average' | 'Maximum' | 'Minimum' | 'Sum';
  readonly comparisonOperator: string;
  readonly threshold: number;
  /** Consecutive 5-minute periods before the alarm fires. @default 3 */
  readonly periods?: number;
}

const GIB = 1024 ** 3;

/**
 * The alarm topic, the alarms that page on it (RDS, Redis, node health) and a dashboard with the
 * same metrics. Every alarm notifies on ALARM and on OK.
 */
export class Alarms extends pulumi.ComponentResource {
  readonly topicArn: pulumi.Output<string>;
  readonly dashboardName: pulumi.Output<string>;

  constructor(name: string, args: AlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:Alarms', name, {}, opts);
    const parent = { parent: this };
    const topic = new aws.sns.Topic(`${name}-alarms`, {}, parent);
    this.topicArn = topic.arn;
    if (args.email) {
      new aws.sns.TopicSubscription(
        `${name}-alarms-email`,
        { topic: topic.arn, protocol: 'email', endpoint: args.email },
        parent,
      );
    }

    const db = { DBInstanceIdentifier: args.database.instanceId };
    const specs: AlarmSpec[] = [
      {
        name: 'rds-cpu',
        description: 'PostgreSQL CPU above 80%',
        namespace: 'AWS/RDS',
        metricName: 'CPUUtilization',
        dimensions: db,
        statistic: 'Average',
        comparisonOperator: 'GreaterThanThreshold',
        threshold: 80,
      },
      {
        name: 'rds-free-storage',
        description: 'PostgreSQL free storage below 10% of the allocation',
        namespace: 'AWS/RDS',
        metricName: 'FreeStorageSpace',
        dimensions: db,
        statistic: 'Minimum',
        comparisonOperator: 'LessThanThreshold',
        threshold: Math.round(args.database.allocatedStorageGb * GIB * 0.1),
        periods: 1,
      },
      {
        name: 'rds-connections',
        description: `PostgreSQL connections above ${args.database.connectionsThreshold}`,
        namespace: 'AWS/RDS',
        metricName: 'DatabaseConnections',
        dimensions: db,
        statistic: 'Maximum',
        comparisonOperator: 'GreaterThanThreshold',
        threshold: args.database.connectionsThreshold,
      },
      ...args.cacheClusterIds.flatMap((cacheClusterId, i): AlarmSpec[] => {
        const node = { CacheClusterId: cacheClusterId };
        const member = `redis-${i + 1}`;
        return [
          {
            name: `${member}-engine-cpu`,
            description: `Redis ${cacheClusterId} engine thread above 80% (Redis is single-threaded)`,
            namespace: 'AWS/ElastiCache',
            metricName: 'EngineCPUUtilization',
            dimensions: node,
            statistic: 'Average',
            comparisonOperator: 'GreaterThanThreshold',
            threshold: 80,
          },
          {
            name: `${member}-memory`,
            description: `Redis ${cacheClusterId} memory above 80% of maxmemory`,
            namespace: 'AWS/ElastiCache',
            metricName: 'DatabaseMemoryUsagePercentage',
            dimensions: node,
            statistic: 'Maximum',
            comparisonOperator: 'GreaterThanThreshold',
            threshold: 80,
          },
          {
            // Live bid state lives in Redis: any eviction is data loss, not a cache miss.
            name: `${member}-evictions`,
            description: `Redis ${cacheClusterId} evicted keys`,
            namespace: 'AWS/ElastiCache',
            metricName: 'Evictions',
            dimensions: node,
            statistic: 'Sum',
            comparisonOperator: 'GreaterThanThreshold',
            threshold: 0,
            periods: 1,
          },
        ];
      }),
      ...(args.containerInsights
        ? [
            {
              name: 'failed-nodes',
              description: 'EKS nodes failing (Container Insights cluster_failed_node_count)',
              namespace: 'ContainerInsights',
              metricName: 'cluster_failed_node_count',
              dimensions: { ClusterName: args.clusterName },
              statistic: 'Maximum',
              comparisonOperator: 'GreaterThanThreshold',
              threshold: 0,
            } satisfies AlarmSpec,
          ]
        : []),
    ];

    for (const spec of specs) {
      const periods = spec.periods ?? 3;
      new aws.cloudwatch.MetricAlarm(
        `${name}-${spec.name}`,
        {
          alarmDescription: spec.description,
          namespace: spec.namespace,
          metricName: spec.metricName,
          dimensions: spec.dimensions,
          statistic: spec.statistic,
          comparisonOperator: spec.comparisonOperator,
          threshold: spec.threshold,
          period: 300,
          evaluationPeriods: periods,
          datapointsToAlarm: periods,
          treatMissingData: 'missing',
          alarmActions: [topic.arn],
          okActions: [topic.arn],
        },
        parent,
      );
    }

    // The SLOs, from the services' own metrics (see app-slo-alarms.ts for how they arrive).
    for (const slo of sloAlarmSpecs(args.clusterName, args.appNamespace)) {
      new aws.cloudwatch.MetricAlarm(
        `${name}-${slo.name}`,
        {
          alarmDescription: `${slo.description}. Runbook: docs/runbooks.md#${slo.runbook}`,
          metricQueries: slo.metricQueries as aws.types.input.cloudwatch.MetricAlarmMetricQuery[],
          comparisonOperator: 'GreaterThanThreshold',
          threshold: slo.threshold,
          evaluationPeriods: slo.periods,
          datapointsToAlarm: slo.periods,
          // No bids (or no events) in a minute is no breach.
          treatMissingData: 'notBreaching',
          alarmActions: [topic.arn],
          okActions: [topic.arn],
        },
        parent,
      );
    }

    const widget = (title: string, metrics: unknown[][], x: number, y: number) => ({
      type: 'metric',
      x,
      y,
      width: 12,
      height: 6,
      properties: { title, region: args.region, view: 'timeSeries', stat: 'Average', period: 300, metrics },
    });
    const redis = (metric: string) =>
      args.cacheClusterIds.map((id) => ['AWS/ElastiCache', metric, 'CacheClusterId', id]);
    const dashboard = new aws.cloudwatch.Dashboard(
      `${name}-dashboard`,
      {
        dashboardName: name,
        dashboardBody: pulumi.output(args.database.instanceId).apply((dbId) =>
          JSON.stringify({
            widgets: [
              widget('PostgreSQL CPU %', [['AWS/RDS', 'CPUUtilization', 'DBInstanceIdentifier', dbId]], 0, 0),
              widget(
                'PostgreSQL connections',
                [['AWS/RDS', 'DatabaseConnections', 'DBInstanceIdentifier', dbId]],
                12,
                0,
              ),
              widget(
                'PostgreSQL free storage (bytes)',
                [['AWS/RDS', 'FreeStorageSpace', 'DBInstanceIdentifier', dbId]],
                0,
                6,
              ),
              widget('Redis engine CPU %', redis('EngineCPUUtilization'), 12, 6),
              widget('Redis memory %', redis('DatabaseMemoryUsagePercentage'), 0, 12),
              widget('Redis evictions', redis('Evictions'), 12, 12),
              ...appWidgets(args, 24),
              widget(
                'EKS nodes',
                [
                  ['ContainerInsights', 'cluster_node_count', 'ClusterName', args.clusterName],
                  ['ContainerInsights', 'cluster_failed_node_count', 'ClusterName', args.clusterName],
                ],
                0,
                18,
              ),
            ],
          }),
        ),
      },
      parent,
    );
    this.dashboardName = dashboard.dashboardName;
    this.registerOutputs({ topicArn: this.topicArn });
  }
}

/**
 * The Grafana dashboard's signals (deploy/grafana/gavel-overview.json) in CloudWatch: bids
 * accepted and refused, the slow-bid share, fan-out deliveries and connections per colour,
 * consumer lag, outbox depth and 5xx responses, from ContainerInsights/Prometheus.
 */
function appWidgets(args: AlarmsArgs, y0: number) {
  const dims = (service: string, extra: string[] = []) => [
    'ClusterName',
    args.clusterName,
    'Namespace',
    args.appNamespace,
    'service',
    service,
    ...extra,
  ];
  const m = (name: string, service: string, extra: string[] = [], options: object = {}) => [
    PROMETHEUS_NAMESPACE,
    name,
    ...dims(service, extra),
    options,
  ];
  const panel = (title: string, metrics: unknown[][], x: number, y: number, stat = 'Sum') => ({
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region: args.region, view: 'timeSeries', stat, period: 60, metrics },
  });
  return [
    panel(
      'Bids per minute: accepted and refused',
      [
        m('gavel_bids_total', 'api', ['outcome', 'accepted']),
        m('gavel_bids_total', 'api', ['outcome', 'too_low']),
        m('gavel_bids_total', 'api', ['outcome', 'rate_limited']),
        m('gavel_bids_total', 'api', ['outcome', 'outbox_full']),
      ],
      0,
      y0,
    ),
    panel(
      'Bids slower than 50 ms (%): above 1 the p99 SLO is missed',
      [
        m('gavel_bid_duration_seconds_count', 'api', [], { id: 'all', visible: false }),
        m('gavel_bid_duration_seconds_bucket', 'api', ['le', '0.05'], { id: 'fast', visible: false }),
        [{ expression: 'IF(all > 0, 100 * (all - fast) / all, 0)', label: 'slow bids %' }],
      ],
      12,
      y0,
    ),
    panel(
      'Fan-out deliveries per minute by colour',
      [
        m('gavel_broadcast_deliveries_total', 'broadcast', ['color', 'blue']),
        m('gavel_broadcast_deliveries_total', 'broadcast', ['color', 'green']),
      ],
      0,
      y0 + 6,
    ),
    panel(
      'Connections per colour',
      [
        m('gavel_broadcast_connections', 'broadcast', ['color', 'blue']),
        m('gavel_broadcast_connections', 'broadcast', ['color', 'green']),
      ],
      12,
      y0 + 6,
      'Maximum',
    ),
    panel(
      'Outbox depth and archival consumer lag',
      [
        m('gavel_outbox_entries', 'api', [], { stat: 'Maximum' }),
        m('gavel_archival_consumer_pending_messages', 'archival', [], { stat: 'Maximum' }),
      ],
      0,
      y0 + 12,
      'Maximum',
    ),
    panel(
      'HTTP 5xx per minute',
      ['api', 'broadcast', 'archival'].flatMap((service) =>
        ['500', '503'].map((code) =>
          m('gavel_http_request_duration_seconds_count', service, ['status_code', code]),
        ),
      ),
      12,
      y0 + 12,
    ),
  ];
}

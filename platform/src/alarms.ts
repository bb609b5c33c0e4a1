import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

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

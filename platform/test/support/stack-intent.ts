import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  GENERAL_POOL,
  LATENCY_CLIENTS_POOL,
  LATENCY_NODE_POOL,
  POOL_LABEL_KEY,
  platformOutputsSchema,
} from '@gavel/shared';
import { NODE_SECURITY_GROUP, runProgram } from './program.js';
import type { ProgramRun, Props, RegisteredResource } from './program.js';

export interface StackExpectations {
  readonly azCount: number;
  readonly natGateways: number;
  readonly general: { instanceType: string; minSize: number; desiredSize: number; maxSize: number };
  readonly latencyClients: boolean;
  readonly dbMultiAz: boolean;
  readonly deletionProtection: boolean;
  readonly dbBackupRetentionDays: number;
  readonly redisNodes: number;
  readonly logRetentionDays: number;
}

const WORLD = ['0.0.0.0/0', '::/0'];
const DATA_PORTS = [5432, 6379];

/** Whether a rule's port range (any protocol when -1/all) includes the port. */
function coversPort(
  rule: { fromPort?: number; toPort?: number; protocol?: string; ipProtocol?: string },
  port: number,
) {
  const protocol = String(rule.protocol ?? rule.ipProtocol ?? 'tcp');
  if (protocol === '-1' || protocol === 'all') return true;
  return (rule.fromPort ?? 0) <= port && port <= (rule.toPort ?? 65535);
}

/** Every ingress rule the program declares, inline or standalone, normalised. */
function ingressRules(run: ProgramRun) {
  const rules: { source: string; protocol?: string; fromPort?: number; toPort?: number; cidrs: string[] }[] =
    [];
  for (const sg of run.ofType('aws:ec2/securityGroup:SecurityGroup')) {
    for (const rule of sg.inputs.ingress ?? []) {
      rules.push({
        source: sg.name,
        ...rule,
        cidrs: [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])],
      });
    }
  }
  for (const rule of run.ofType('aws:ec2/securityGroupRule:SecurityGroupRule')) {
    if (rule.inputs.type !== 'ingress') continue;
    rules.push({
      source: rule.name,
      ...rule.inputs,
      cidrs: [...(rule.inputs.cidrBlocks ?? []), ...(rule.inputs.ipv6CidrBlocks ?? [])],
    });
  }
  for (const rule of run.ofType('aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule')) {
    rules.push({
      source: rule.name,
      ...rule.inputs,
      cidrs: [rule.inputs.cidrIpv4, rule.inputs.cidrIpv6].filter((c): c is string => Boolean(c)),
    });
  }
  return rules;
}

/** Defines the intent assertions for one stack, run against the program under mocks. */
export function describeStack(stack: string, expected: StackExpectations) {
  describe(`stack ${stack}`, () => {
    let run: ProgramRun;
    const nodeGroup = (pool: string) =>
      run.ofType('aws:eks/nodeGroup:NodeGroup').find((ng) => ng.inputs.labels?.[POOL_LABEL_KEY] === pool);
    const privateSubnets = () =>
      run.ofType('aws:ec2/subnet:Subnet').filter((s) => s.name.includes('-private-'));

    beforeAll(async () => {
      run = await runProgram(stack);
    });

    it('spreads public and private subnets over the zones, with the load balancer tags', () => {
      const subnets = run.ofType('aws:ec2/subnet:Subnet');
      const publics = subnets.filter((s) => s.name.includes('-public-'));
      expect(publics).toHaveLength(expected.azCount);
      expect(privateSubnets()).toHaveLength(expected.azCount);
      expect(new Set(privateSubnets().map((s) => s.inputs.availabilityZone)).size).toBe(expected.azCount);
      for (const subnet of publics) {
        expect(subnet.inputs.tags).toMatchObject({
          'kubernetes.io/role/elb': '1',
          [`kubernetes.io/cluster/gavel-${stack}`]: 'shared',
        });
      }
      for (const subnet of privateSubnets()) {
        expect(subnet.inputs.tags).toMatchObject({
          'kubernetes.io/role/internal-elb': '1',
          [`kubernetes.io/cluster/gavel-${stack}`]: 'shared',
        });
        expect(subnet.inputs.mapPublicIpOnLaunch).not.toBe(true);
      }
      expect(run.ofType('aws:ec2/natGateway:NatGateway')).toHaveLength(expected.natGateways);
      const s3 = run.one('aws:ec2/vpcEndpoint:VpcEndpoint');
      expect(s3.inputs).toMatchObject({
        vpcEndpointType: 'Gateway',
        serviceName: 'com.amazonaws.us-east-1.s3',
      });
      expect(s3.inputs.routeTableIds).toHaveLength(expected.azCount);
    });

    it('creates an EKS cluster with access entries, OIDC, control-plane logs, private nodes and no default node group', () => {
      const cluster = run.one('eks:index:Cluster');
      expect(cluster.inputs).toMatchObject({
        name: `gavel-${stack}`,
        version: '1.33',
        authenticationMode: 'API',
        createOidcProvider: true,
        skipDefaultNodeGroup: true,
        nodeAssociatePublicIpAddress: false,
        corednsAddonOptions: { enabled: false },
      });
      expect([...cluster.inputs.enabledClusterLogTypes].sort()).toEqual([
        'api',
        'audit',
        'authenticator',
        'controllerManager',
        'scheduler',
      ]);
      expect(cluster.inputs.privateSubnetIds).toEqual(privateSubnets().map((s) => s.id));
      // CoreDNS comes back as a standalone add-on once nodes exist.
      expect(run.ofType('aws:eks/addon:Addon').map((a) => a.inputs.addonName)).toContain('coredns');
      const logs = run.one('aws:cloudwatch/logGroup:LogGroup', 'control-plane');
      expect(logs.inputs).toMatchObject({
        name: `/aws/eks/gavel-${stack}/cluster`,
        retentionInDays: expected.logRetentionDays,
      });
    });

    it('runs the general pool with its stack scaling and nothing but private subnets', () => {
      const general = nodeGroup(GENERAL_POOL);
      expect(general?.inputs).toMatchObject({
        instanceTypes: [expected.general.instanceType],
        scalingConfig: {
          minSize: expected.general.minSize,
          desiredSize: expected.general.desiredSize,
          maxSize: expected.general.maxSize,
        },
        taints: [],
      });
      const privateIds = privateSubnets().map((s) => s.id);
      for (const ng of run.ofType('aws:eks/nodeGroup:NodeGroup')) {
        for (const subnetId of ng.inputs.subnetIds) expect(privateIds).toContain(subnetId);
      }
    });

    it('puts the latency pool on m6i.8xlarge in one zone with the shared label and taint', () => {
      const latency = nodeGroup(LATENCY_NODE_POOL.labels[POOL_LABEL_KEY]!);
      expect(latency).toBeDefined();
      expect(latency!.inputs.instanceTypes).toEqual(['m6i.8xlarge']);
      expect(latency!.inputs.subnetIds).toEqual([privateSubnets()[0]!.id]);
      expect(latency!.inputs.labels).toEqual(LATENCY_NODE_POOL.labels);
      const effects = {
        NoSchedule: 'NO_SCHEDULE',
        PreferNoSchedule: 'PREFER_NO_SCHEDULE',
        NoExecute: 'NO_EXECUTE',
      };
      expect(latency!.inputs.taints).toEqual(
        LATENCY_NODE_POOL.taints.map((t) => ({ key: t.key, value: t.value, effect: effects[t.effect] })),
      );
      const clients = nodeGroup(LATENCY_CLIENTS_POOL);
      if (expected.latencyClients) {
        expect(clients?.inputs.subnetIds).toEqual(latency!.inputs.subnetIds);
        expect(clients?.inputs.taints).toEqual([
          { key: POOL_LABEL_KEY, value: LATENCY_CLIENTS_POOL, effect: 'NO_SCHEDULE' },
        ]);
      } else {
        expect(clients).toBeUndefined();
      }
    });

    it('launches every node with IMDSv2 required, hop limit 1 and the node security group', () => {
      const nodeGroups = run.ofType('aws:eks/nodeGroup:NodeGroup');
      expect(nodeGroups.length).toBe(expected.latencyClients ? 3 : 2);
      for (const ng of nodeGroups) {
        const template = run.byId(ng.inputs.launchTemplate.id);
        expect(template.inputs.metadataOptions).toEqual({
          httpEndpoint: 'enabled',
          httpTokens: 'required',
          httpPutResponseHopLimit: 1,
        });
        expect(template.inputs.vpcSecurityGroupIds).toEqual([NODE_SECURITY_GROUP]);
        expect(template.inputs.blockDeviceMappings[0].ebs.encrypted).toBe('true');
      }
    });

    it('keeps PostgreSQL encrypted, private, TLS-only, with a managed master password', () => {
      const db = run.one('aws:rds/instance:Instance');
      expect(db.inputs).toMatchObject({
        engine: 'postgres',
        storageEncrypted: true,
        publiclyAccessible: false,
        manageMasterUserPassword: true,
        multiAz: expected.dbMultiAz,
        deletionProtection: expected.deletionProtection,
        backupRetentionPeriod: expected.dbBackupRetentionDays,
        performanceInsightsEnabled: true,
      });
      expect(db.inputs.password).toBeUndefined();
      expect(Number(String(db.inputs.engineVersion).split('.')[0])).toBeGreaterThanOrEqual(16);
      const subnetGroup = run.one('aws:rds/subnetGroup:SubnetGroup');
      expect(db.inputs.dbSubnetGroupName).toBe(subnetGroup.state.name ?? subnetGroup.inputs.name);
      expect(subnetGroup.inputs.subnetIds).toEqual(privateSubnets().map((s) => s.id));
      const parameters = run.one('aws:rds/parameterGroup:ParameterGroup');
      expect(parameters.inputs.family).toBe(`postgres${String(db.inputs.engineVersion).split('.')[0]}`);
      expect(parameters.inputs.parameters).toContainEqual({ name: 'rds.force_ssl', value: '1' });
      expect(db.inputs.vpcSecurityGroupIds).toEqual([
        run.one('aws:ec2/securityGroup:SecurityGroup', 'postgres').id,
      ]);
    });

    it('keeps Redis encrypted in transit and at rest behind an AUTH token, failing over only where it has replicas', () => {
      const redis = run.one('aws:elasticache/replicationGroup:ReplicationGroup');
      const token = run.one('random:index/randomPassword:RandomPassword', 'redis-auth');
      expect(redis.inputs).toMatchObject({
        transitEncryptionEnabled: true,
        atRestEncryptionEnabled: true,
        authToken: token.state.result,
        numCacheClusters: expected.redisNodes,
        automaticFailoverEnabled: expected.redisNodes > 1,
        multiAzEnabled: expected.redisNodes > 1,
      });
      expect(redis.secretInputs).toContain('authToken');
      expect(
        run.one('aws:secretsmanager/secretVersion:SecretVersion', 'redis-auth').inputs.secretString,
      ).toBe(token.state.result);
      expect(run.one('aws:elasticache/subnetGroup:SubnetGroup').inputs.subnetIds).toEqual(
        privateSubnets().map((s) => s.id),
      );
    });

    it('opens no database or Redis port to the world, and only to the node security group', () => {
      const rules = ingressRules(run);
      for (const rule of rules) {
        for (const port of DATA_PORTS) {
          if (coversPort(rule, port))
            expect(
              rule.cidrs.filter((c) => WORLD.includes(c)),
              `${rule.source} opens ${port}`,
            ).toEqual([]);
        }
      }
      const dataSgs = ['postgres', 'redis'].map((n) => run.one('aws:ec2/securityGroup:SecurityGroup', n));
      for (const sg of dataSgs) {
        expect(sg.inputs.ingress ?? []).toEqual([]);
        const own = run
          .ofType('aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule')
          .filter((r) => r.inputs.securityGroupId === sg.id);
        expect(own).toHaveLength(1);
        expect(own[0]!.inputs.referencedSecurityGroupId).toBe(NODE_SECURITY_GROUP);
        expect(own[0]!.inputs.cidrIpv4).toBeUndefined();
      }
    });

    it('scans images on push and keeps the last 10 in each ECR repository', () => {
      const repositories = run.ofType('aws:ecr/repository:Repository');
      expect(repositories.map((r) => r.inputs.name).sort()).toEqual(
        ['api', 'archival', 'broadcast', 'latency'].map((s) => `gavel-${stack}/${s}`),
      );
      for (const repository of repositories) {
        expect(repository.inputs.imageScanningConfiguration).toEqual({ scanOnPush: true });
        const lifecycle = run
          .ofType('aws:ecr/lifecyclePolicy:LifecyclePolicy')
          .find((p) => p.inputs.repository === repository.inputs.name);
        const rules = JSON.parse(lifecycle!.inputs.policy).rules;
        expect(rules).toEqual([
          expect.objectContaining({
            selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 10 },
            action: { type: 'expire' },
          }),
        ]);
      }
    });

    it('alarms on RDS, every Redis node and node health, all to the SNS topic', () => {
      const topic = run.one('aws:sns/topic:Topic');
      const alarms = run.ofType('aws:cloudwatch/metricAlarm:MetricAlarm');
      const metrics = alarms.map((a) => `${a.inputs.namespace}/${a.inputs.metricName}`);
      for (const metric of [
        'AWS/RDS/CPUUtilization',
        'AWS/RDS/FreeStorageSpace',
        'AWS/RDS/DatabaseConnections',
        'ContainerInsights/cluster_failed_node_count',
      ]) {
        expect(metrics.filter((m) => m === metric)).toHaveLength(1);
      }
      for (const metric of ['EngineCPUUtilization', 'DatabaseMemoryUsagePercentage', 'Evictions']) {
        expect(metrics.filter((m) => m === `AWS/ElastiCache/${metric}`)).toHaveLength(expected.redisNodes);
      }
      for (const alarm of alarms) {
        expect(alarm.inputs.alarmActions).toEqual([topic.state.arn]);
        expect(alarm.inputs.okActions).toEqual([topic.state.arn]);
      }
      const dashboard = JSON.parse(run.one('aws:cloudwatch/dashboard:Dashboard').inputs.dashboardBody);
      expect(dashboard.widgets.length).toBeGreaterThanOrEqual(7);
    });

    it('scopes the services role to the three Gavel secrets and each IRSA role to one service account', () => {
      const servicesRole = run.one('aws:iam/role:Role', 'services');
      const trust = JSON.parse(servicesRole.inputs.assumeRolePolicy);
      expect(Object.values(trust.Statement[0].Condition.StringEquals)).toContain(
        'system:serviceaccount:gavel:gavel',
      );
      const policy = JSON.parse(run.one('aws:iam/rolePolicy:RolePolicy', 'services').inputs.policy);
      const secretArns = [
        run.one('aws:rds/instance:Instance').state.masterUserSecrets[0].secretArn,
        ...run.ofType('aws:secretsmanager/secret:Secret').map((s) => s.state.arn),
      ];
      expect(policy.Statement).toEqual([
        expect.objectContaining({
          Effect: 'Allow',
          Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        }),
      ]);
      expect([...policy.Statement[0].Resource].sort()).toEqual(secretArns.sort());
      const lbcTrust = JSON.parse(run.one('aws:iam/role:Role', 'lb-controller').inputs.assumeRolePolicy);
      expect(Object.values(lbcTrust.Statement[0].Condition.StringEquals)).toEqual([
        'sts.amazonaws.com',
        'system:serviceaccount:kube-system:aws-load-balancer-controller',
      ]);
      const lbcPolicy = JSON.parse(run.one('aws:iam/rolePolicy:RolePolicy', 'lb-controller').inputs.policy);
      const actions = lbcPolicy.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat());
      expect(actions).toEqual(
        expect.arrayContaining([
          'elasticloadbalancing:CreateLoadBalancer',
          'ec2:AuthorizeSecurityGroupIngress',
          'elasticloadbalancing:RegisterTargets',
        ]),
      );
      expect(actions.some((a: string) => a === '*' || a.endsWith(':*'))).toBe(false);
    });

    it('installs the load balancer controller with its IRSA service account, and metrics-server', () => {
      const releases = run.ofType('kubernetes:helm.sh/v3:Release');
      const lbc = releases.find((r) => r.inputs.chart === 'aws-load-balancer-controller');
      expect(lbc?.inputs.repositoryOpts.repo).toBe('https://aws.github.io/eks-charts');
      expect(lbc?.inputs.values).toMatchObject({
        clusterName: `gavel-${stack}`,
        region: 'us-east-1',
        serviceAccount: {
          name: 'aws-load-balancer-controller',
          annotations: {
            'eks.amazonaws.com/role-arn': run.one('aws:iam/role:Role', 'lb-controller').state.arn,
          },
        },
      });
      expect(releases.map((r) => r.inputs.chart).sort()).toEqual([
        'aws-load-balancer-controller',
        'metrics-server',
      ]);
    });

    it('writes the gavel namespace and the three Secrets charts-ts mounts', () => {
      const namespace = run.one('kubernetes:core/v1:Namespace');
      expect(namespace.inputs.metadata).toMatchObject({
        name: 'gavel',
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/warn': 'restricted',
        },
      });
      const secrets = Object.fromEntries(
        run
          .ofType('kubernetes:core/v1:Secret')
          .map((s): [string, Props] => [s.inputs.metadata.name, s.inputs]),
      );
      expect(Object.keys(secrets).sort()).toEqual(['gavel-auth', 'gavel-database', 'gavel-redis']);
      for (const secret of Object.values(secrets)) expect(secret.metadata.namespace).toBe('gavel');
      for (const secret of run.ofType('kubernetes:core/v1:Secret')) {
        expect(secret.secretInputs.some((p) => p.startsWith('stringData'))).toBe(true);
      }

      const db = new URL(secrets['gavel-database']!.stringData.DATABASE_URL);
      expect(db.protocol).toBe('postgres:');
      expect(decodeURIComponent(db.password)).toBe('p@ss/w:rd#1');
      expect(db.hostname).toBe(run.one('aws:rds/instance:Instance').state.address);
      expect(db.searchParams.get('sslmode')).toBe('require');

      const redis = new URL(secrets['gavel-redis']!.stringData.REDIS_URL);
      expect(redis.protocol).toBe('rediss:');
      expect(redis.password).toBe(
        run.one('random:index/randomPassword:RandomPassword', 'redis-auth').state.result,
      );
      expect(redis.hostname).toBe(
        run.one('aws:elasticache/replicationGroup:ReplicationGroup').state.primaryEndpointAddress,
      );

      expect(secrets['gavel-auth']!.stringData.AUTH_SECRET).toBe(
        run.one('random:index/randomPassword:RandomPassword', 'auth-secret').state.result,
      );
    });

    it('exports platformOutputs in the shape charts-ts reads, and the kubeconfig as a secret', async () => {
      const outputs = platformOutputsSchema.parse(run.outputs.platformOutputs);
      expect(outputs).toMatchObject({
        stack,
        region: 'us-east-1',
        clusterName: `gavel-${stack}`,
        namespace: 'gavel',
      });
      expect(outputs.nodePools.latency).toEqual(LATENCY_NODE_POOL);
      expect(outputs.nodePools.general.labels).toEqual({ [POOL_LABEL_KEY]: GENERAL_POOL });
      expect(outputs.nodePools.latencyClients !== undefined).toBe(expected.latencyClients);
      expect(outputs.database).toMatchObject({ port: 5432, name: 'gavel', secretName: 'gavel-database' });
      expect(outputs.redis).toMatchObject({ port: 6379, tls: true, secretName: 'gavel-redis' });
      expect(outputs.images.latency).toMatch(/\.dkr\.ecr\.us-east-1\.amazonaws\.com\/gavel-.+\/latency$/);
      expect(run.outputs.nodePools).toEqual(outputs.nodePools);
      expect(await pulumi.isSecret(run.exports.kubeconfig as pulumi.Output<string>)).toBe(true);
      expect(run.calls.every((token) => token.startsWith('aws:'))).toBe(true);
    });
  });
}

export type { RegisteredResource };

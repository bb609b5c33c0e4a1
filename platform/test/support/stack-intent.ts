import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  GENERAL_POOL,
  LATENCY_CLIENTS_POOL,
  LATENCY_NODE_POOL,
  POOL_LABEL_KEY,
  platformOutputsSchema,
} from '@gavel/shared';
import { REPO_ROOT } from '@gavel/shared/testing';
import { CLOUDWATCH_PROMETHEUS_METRICS, PROMETHEUS_NAMESPACE } from '../../src/app-slo-alarms.js';
import { NODE_SECURITY_GROUP, TEST_CA_BUNDLE, runProgram } from './program.js';
import type { ProgramRun, Props, RegisteredResource } from './program.js';

export interface StackExpectations {
  readonly azCount: number;
  readonly natGateways: number;
  readonly general: { instanceType: string; minSize: number; desiredSize: number; maxSize: number };
  readonly latencyClients: boolean;
  readonly dbMultiAz: boolean;
  readonly deletionProtection: boolean;
  readonly dbBackupRetentionDays: number;
  /** ElastiCache: shards in cluster mode (null: cluster mode off), and nodes in each (primary + replicas). */
  readonly redis: { readonly clusterShards: number | null; readonly nodesPerShard: number };
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

    // The whole program under mocks: generous on a loaded machine.
    beforeAll(async () => {
      run = await runProgram(stack);
    }, 120_000);

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
      const { clusterShards, nodesPerShard } = expected.redis;
      expect(redis.inputs).toMatchObject({
        transitEncryptionEnabled: true,
        atRestEncryptionEnabled: true,
        authToken: token.state.result,
        multiAzEnabled: nodesPerShard > 1,
      });
      const groups = run.ofType('aws:elasticache/parameterGroup:ParameterGroup');
      if (clusterShards === null) {
        expect(redis.inputs).toMatchObject({
          numCacheClusters: nodesPerShard,
          automaticFailoverEnabled: nodesPerShard > 1,
        });
        expect(redis.inputs.numNodeGroups).toBeUndefined();
        expect(groups).toHaveLength(0);
      } else {
        // Cluster mode: shards of a primary and its replicas, and a shard without a primary
        // never stops the others.
        expect(redis.inputs).toMatchObject({
          numNodeGroups: clusterShards,
          replicasPerNodeGroup: nodesPerShard - 1,
          automaticFailoverEnabled: true,
        });
        expect(redis.inputs.numCacheClusters).toBeUndefined();
        expect(groups).toHaveLength(1);
        expect(redis.inputs.parameterGroupName).toBe(groups[0]!.state.name ?? groups[0]!.inputs.name);
        expect(groups[0]!.inputs.family).toBe('redis7');
        expect(groups[0]!.inputs.parameters).toEqual(
          expect.arrayContaining([
            { name: 'cluster-enabled', value: 'yes' },
            { name: 'cluster-require-full-coverage', value: 'no' },
          ]),
        );
      }
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

    it('scans images on push, keeps the last 10 and never lets a tag move in each ECR repository', () => {
      const repositories = run.ofType('aws:ecr/repository:Repository');
      expect(repositories.map((r) => r.inputs.name).sort()).toEqual(
        ['api', 'archival', 'broadcast', 'latency'].map((s) => `gavel-${stack}/${s}`),
      );
      for (const repository of repositories) {
        expect(repository.inputs.imageScanningConfiguration).toEqual({ scanOnPush: true });
        expect(repository.inputs.imageTagMutability).toBe('IMMUTABLE');
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
        expect(metrics.filter((m) => m === `AWS/ElastiCache/${metric}`)).toHaveLength(
          (expected.redis.clusterShards ?? 1) * expected.redis.nodesPerShard,
        );
      }
      for (const alarm of alarms) {
        expect(alarm.inputs.alarmActions).toEqual([topic.state.arn]);
        expect(alarm.inputs.okActions).toEqual([topic.state.arn]);
      }
      const dashboard = JSON.parse(run.one('aws:cloudwatch/dashboard:Dashboard').inputs.dashboardBody);
      expect(dashboard.widgets.length).toBeGreaterThanOrEqual(13);
    });

    it("alarms on the SLOs (bid p99, archival lag, outbox depth) from the services' own metrics, with runbooks", () => {
      const slos = run
        .ofType('aws:cloudwatch/metricAlarm:MetricAlarm')
        .filter((a) => Array.isArray(a.inputs.metricQueries));
      const described = slos.map((a) => String(a.inputs.alarmDescription));
      for (const [slo, runbook] of [
        ['Bid p99', 'bid-latency'],
        ['Archival lag', 'archival-lag'],
        ['Outbox depth', 'outbox-depth'],
      ] as const) {
        expect(
          described.filter((d) => d.startsWith(slo) && d.endsWith(`docs/runbooks.md#${runbook}`)),
        ).toHaveLength(1);
      }
      const runbooks = readFileSync(join(REPO_ROOT, 'docs/runbooks.md'), 'utf8');
      for (const alarm of slos) {
        const anchor = /#([a-z-]+)$/.exec(String(alarm.inputs.alarmDescription))![1]!;
        expect(runbooks, anchor).toMatch(new RegExp(`^## .*\\{#${anchor}\\}$|^<a id="${anchor}"></a>$`, 'm'));
        // Every metric an alarm reads is one the CloudWatch agent is told to import.
        for (const q of alarm.inputs.metricQueries as Array<{
          metric?: { namespace: string; metricName: string };
        }>) {
          if (!q.metric) continue;
          expect(q.metric.namespace).toBe(PROMETHEUS_NAMESPACE);
          expect(Object.keys(CLOUDWATCH_PROMETHEUS_METRICS)).toContain(q.metric.metricName);
        }
      }
      const dashboard = JSON.parse(run.one('aws:cloudwatch/dashboard:Dashboard').inputs.dashboardBody);
      const names = dashboard.widgets.flatMap((w: { properties: { metrics: unknown[][] } }) =>
        w.properties.metrics.filter((m) => m[0] === PROMETHEUS_NAMESPACE).map((m) => m[1]),
      );
      for (const name of names) expect(Object.keys(CLOUDWATCH_PROMETHEUS_METRICS)).toContain(name);
      expect(names).toEqual(
        expect.arrayContaining(['gavel_bids_total', 'gavel_outbox_entries', 'gavel_broadcast_connections']),
      );
    });

    it('gives each add-on that calls AWS its own IRSA role for exactly its service account, and the services none', () => {
      const trustOf = (role: string) =>
        Object.values(
          JSON.parse(run.one('aws:iam/role:Role', role).inputs.assumeRolePolicy).Statement[0].Condition
            .StringEquals,
        );
      expect(trustOf('lb-controller')).toEqual([
        'sts.amazonaws.com',
        'system:serviceaccount:kube-system:aws-load-balancer-controller',
      ]);
      expect(trustOf('ebs-csi')).toEqual([
        'sts.amazonaws.com',
        'system:serviceaccount:kube-system:ebs-csi-controller-sa',
      ]);
      expect(trustOf('cluster-autoscaler')).toEqual([
        'sts.amazonaws.com',
        'system:serviceaccount:kube-system:cluster-autoscaler',
      ]);
      // The services call no AWS API: their secrets arrive as Kubernetes Secrets.
      expect(run.ofType('aws:iam/role:Role').some((r) => r.name.includes('services'))).toBe(false);
      expect(
        run
          .ofType('aws:iam/rolePolicyAttachment:RolePolicyAttachment')
          .filter((a) => a.name.includes('ebs-csi'))
          .map((a) => a.inputs.policyArn),
      ).toEqual(['arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy']);

      const actionsOf = (role: string) =>
        JSON.parse(run.one('aws:iam/rolePolicy:RolePolicy', role).inputs.policy).Statement.flatMap(
          (s: { Action: string | string[] }) => [s.Action].flat(),
        );
      expect(actionsOf('lb-controller')).toEqual(
        expect.arrayContaining([
          'elasticloadbalancing:CreateLoadBalancer',
          'ec2:AuthorizeSecurityGroupIngress',
          'elasticloadbalancing:RegisterTargets',
        ]),
      );
      for (const role of ['lb-controller', 'cluster-autoscaler']) {
        expect(
          actionsOf(role).some((a: string) => a === '*' || a.endsWith(':*')),
          role,
        ).toBe(false);
      }
      // The autoscaler may resize only this cluster's groups.
      const scaling = JSON.parse(run.one('aws:iam/rolePolicy:RolePolicy', 'cluster-autoscaler').inputs.policy)
        .Statement[0];
      expect(scaling.Action).toContain('autoscaling:SetDesiredCapacity');
      expect(scaling.Condition.StringEquals).toEqual({
        [`aws:ResourceTag/k8s.io/cluster-autoscaler/gavel-${stack}`]: 'owned',
      });
    });

    it('installs the load balancer controller, metrics-server and the Cluster Autoscaler with their IRSA service accounts', () => {
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
        'cluster-autoscaler',
        'metrics-server',
      ]);
      const autoscaler = releases.find((r) => r.inputs.chart === 'cluster-autoscaler')!;
      expect(autoscaler.inputs.values).toMatchObject({
        autoDiscovery: { clusterName: `gavel-${stack}` },
        image: { tag: 'v1.33.0' },
        rbac: {
          serviceAccount: {
            name: 'cluster-autoscaler',
            annotations: {
              'eks.amazonaws.com/role-arn': run.one('aws:iam/role:Role', 'cluster-autoscaler').state.arn,
            },
          },
        },
      });
    });

    it('enforces NetworkPolicies through the VPC CNI add-on and provisions encrypted gp3 volumes', () => {
      const addons = Object.fromEntries(
        run.ofType('aws:eks/addon:Addon').map((a) => [a.inputs.addonName, a]),
      );
      expect(JSON.parse(addons['vpc-cni']!.inputs.configurationValues)).toEqual({
        enableNetworkPolicy: 'true',
      });
      expect(addons['aws-ebs-csi-driver']!.inputs.serviceAccountRoleArn).toBe(
        run.one('aws:iam/role:Role', 'ebs-csi').state.arn,
      );
      const sc = run.one('kubernetes:storage.k8s.io/v1:StorageClass');
      expect(sc.inputs).toMatchObject({
        metadata: { name: 'gp3-encrypted' },
        provisioner: 'ebs.csi.aws.com',
        parameters: { type: 'gp3', encrypted: 'true' },
        volumeBindingMode: 'WaitForFirstConsumer',
        allowVolumeExpansion: true,
        reclaimPolicy: expected.deletionProtection ? 'Retain' : 'Delete',
      });
    });

    it('runs the latency pool kubelet with the static CPU manager (whole physical cores)', () => {
      const latency = nodeGroup(LATENCY_NODE_POOL.labels[POOL_LABEL_KEY]!)!;
      const userData = Buffer.from(
        run.byId(latency.inputs.launchTemplate.id).inputs.userData,
        'base64',
      ).toString();
      expect(userData).toMatch(/^Content-Type: multipart\/mixed; boundary=/m);
      expect(userData).toContain('kind: NodeConfig');
      expect(userData).toMatch(/"cpuManagerPolicy": "static"/);
      expect(userData).toMatch(/"full-pcpus-only": "true"/);
      const general = nodeGroup(GENERAL_POOL)!;
      expect(run.byId(general.inputs.launchTemplate.id).inputs.userData).toBeUndefined();
    });

    it('writes the gavel namespace, the three Secrets and the RDS CA bundle charts-ts mounts', () => {
      const namespace = run
        .ofType('kubernetes:core/v1:Namespace')
        .find((n) => n.inputs.metadata.name === 'gavel')!;
      expect(namespace.inputs.metadata).toMatchObject({
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/warn': 'restricted',
          'elbv2.k8s.aws/pod-readiness-gate-inject': 'enabled',
        },
      });
      const inGavel = (type: string) =>
        run.ofType(type).filter((r) => r.inputs.metadata.namespace === 'gavel');
      const secrets = Object.fromEntries(
        inGavel('kubernetes:core/v1:Secret').map((s): [string, Props] => [s.inputs.metadata.name, s.inputs]),
      );
      expect(Object.keys(secrets).sort()).toEqual(['gavel-auth', 'gavel-database', 'gavel-redis']);
      for (const secret of run.ofType('kubernetes:core/v1:Secret')) {
        expect(secret.secretInputs.some((p) => p.startsWith('stringData'))).toBe(true);
      }

      const db = new URL(secrets['gavel-database']!.stringData.DATABASE_URL);
      expect(db.protocol).toBe('postgres:');
      expect(db.username).toBe('gavel_app');
      expect(db.password).toBe(run.one('random:index/randomPassword:RandomPassword', 'db-app').state.result);
      expect(db.hostname).toBe(run.one('aws:rds/instance:Instance').state.address);
      expect(db.searchParams.get('sslmode')).toBe('verify-full');
      expect(db.searchParams.get('sslrootcert')).toBe('/etc/gavel/rds-ca/rds-ca-bundle.pem');
      const ca = inGavel('kubernetes:core/v1:ConfigMap').find(
        (c) => c.inputs.metadata.name === 'rds-ca-bundle',
      );
      expect(ca?.inputs.data['rds-ca-bundle.pem']).toBe(TEST_CA_BUNDLE);

      const redis = new URL(secrets['gavel-redis']!.stringData.REDIS_URL);
      expect(redis.protocol).toBe('rediss:');
      expect(redis.password).toBe(
        run.one('random:index/randomPassword:RandomPassword', 'redis-auth').state.result,
      );
      const group = run.one('aws:elasticache/replicationGroup:ReplicationGroup').state;
      // Cluster mode: the configuration endpoint, the one seed a cluster client needs.
      expect(redis.hostname).toBe(
        expected.redis.clusterShards === null
          ? group.primaryEndpointAddress
          : group.configurationEndpointAddress,
      );
      expect(redis.hostname).toBeTruthy();

      expect(secrets['gavel-auth']!.stringData.AUTH_SECRET).toBe(
        run.one('random:index/randomPassword:RandomPassword', 'auth-secret').state.result,
      );
    });

    it('creates the application database role from a Job outside the gavel namespace, over verified TLS', () => {
      const job = run.one('kubernetes:batch/v1:Job');
      expect(job.inputs.metadata.namespace).toBe('gavel-db-admin');
      const spec = job.inputs.spec.template.spec;
      const env = Object.fromEntries(spec.containers[0].env.map((e: Props) => [e.name, e]));
      expect(env.PGSSLMODE.value).toBe('verify-full');
      expect(env.PGSSLROOTCERT.value).toBe('/etc/gavel/rds-ca/rds-ca-bundle.pem');
      expect(env.APP_ROLE.value).toBe('gavel_app');
      expect(env.PGPASSWORD.valueFrom.secretKeyRef.name).toBe('gavel-database-admin');
      expect(spec.containers[0].image).toMatch(
        /^public\.ecr\.aws\/docker\/library\/postgres:\d+\.\d+-alpine/,
      );
      const admin = run
        .ofType('kubernetes:core/v1:Secret')
        .find((s) => s.inputs.metadata.name === 'gavel-database-admin')!;
      expect(admin.inputs.metadata.namespace).toBe('gavel-db-admin');
      expect(admin.inputs.stringData.PGPASSWORD).toBe('p@ss/w:rd#1');
      expect(admin.secretInputs.some((p) => p.startsWith('stringData'))).toBe(true);
      // The pod template never carries a password, only a hash that changes when one does.
      expect(JSON.stringify(job.inputs)).not.toContain('p@ss/w:rd#1');
    });

    it('exports platformOutputs in the shape charts-ts reads, and the kubeconfig as a secret', async () => {
      const outputs = platformOutputsSchema.parse(run.outputs.platformOutputs);
      expect(outputs).toMatchObject({
        stack,
        region: 'us-east-1',
        clusterName: `gavel-${stack}`,
        namespace: 'gavel',
      });
      expect(outputs.nodePools.latency).toEqual({ ...LATENCY_NODE_POOL, maxSize: 1 });
      expect(outputs.nodePools.general.labels).toEqual({ [POOL_LABEL_KEY]: GENERAL_POOL });
      expect(outputs.nodePools.latencyClients !== undefined).toBe(expected.latencyClients);
      expect(outputs.database).toMatchObject({ port: 5432, name: 'gavel', secretName: 'gavel-database' });
      expect(outputs.redis).toMatchObject({
        port: 6379,
        tls: true,
        secretName: 'gavel-redis',
        clusterMode: expected.redis.clusterShards !== null,
      });
      expect(outputs.images.latency).toMatch(/\.dkr\.ecr\.us-east-1\.amazonaws\.com\/gavel-.+\/latency$/);
      expect(outputs).toMatchObject({
        vpcCidr: '10.0.0.0/16',
        storageClassName: 'gp3-encrypted',
        allowedOrigins: [],
      });
      expect(outputs.database.caBundle).toEqual({
        configMapName: 'rds-ca-bundle',
        key: 'rds-ca-bundle.pem',
        mountPath: '/etc/gavel/rds-ca',
      });
      expect(outputs.nodePools.general.maxSize).toBe(expected.general.maxSize);
      expect(outputs.nodePools.latency.maxSize).toBe(1);
      expect(run.outputs.nodePools).toEqual(outputs.nodePools);
      expect(await pulumi.isSecret(run.exports.kubeconfig as pulumi.Output<string>)).toBe(true);
      expect(run.calls.every((token) => token.startsWith('aws:'))).toBe(true);
    });
  });
}

export type { RegisteredResource };

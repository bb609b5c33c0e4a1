import * as pulumi from '@pulumi/pulumi';
import { Addons, STORAGE_CLASS } from './addons.js';
import { Alarms } from './alarms.js';
import { Cache } from './cache.js';
import { Cluster } from './cluster.js';
import { loadPlatformConfig } from './config.js';
import { Database } from './database.js';
import { DatabaseRoles } from './database-roles.js';
import { LatencyLab } from './latency-lab/latency-lab.js';
import { GeneratedSecret } from './generated-secret.js';
import { PlatformRoles } from './iam.js';
import { WorkloadSecrets } from './k8s-secrets.js';
import { Network } from './network.js';
import { NodeGroups } from './node-groups.js';
import { platformOutputs as describePlatform } from './platform-outputs.js';
import { RDS_CA_BUNDLE, RdsCaBundle } from './rds-ca-bundle.js';
import { Registry } from './registry.js';

const config = loadPlatformConfig();
const name = config.name;

const network = new Network(name, {
  cidrBlock: config.vpcCidr,
  azCount: config.azCount,
  natGatewayPerAz: config.natGatewayPerAz,
  clusterName: name,
  region: config.region,
});

const cluster = new Cluster(name, {
  version: config.kubernetesVersion,
  vpcId: network.vpcId,
  publicSubnetIds: network.publicSubnetIds,
  privateSubnetIds: network.privateSubnetIds,
  publicAccessCidrs: config.clusterPublicAccessCidrs,
  adminRoleArns: config.clusterAdminRoleArns,
  logRetentionDays: config.logRetentionDays,
  deletionProtection: config.deletionProtection,
});

const nodeGroups = new NodeGroups(name, {
  clusterName: cluster.name,
  nodeSecurityGroupId: cluster.nodeSecurityGroupId,
  privateSubnetIds: network.privateSubnetIds,
  volumeSizeGb: config.nodeVolumeSizeGb,
  general: {
    instanceType: config.generalInstanceType,
    minSize: config.generalMinSize,
    desiredSize: config.generalDesiredSize,
    maxSize: config.generalMaxSize,
  },
  latency: {
    instanceType: config.latencyInstanceType,
    nodeCount: config.latencyNodeCount,
    zoneIndex: config.latencyZoneIndex,
  },
  ...(config.latencyClientsEnabled
    ? {
        latencyClients: {
          instanceType: config.latencyClientsInstanceType,
          nodeCount: config.latencyClientsNodeCount,
        },
      }
    : {}),
});

const database = new Database(name, {
  vpcId: network.vpcId,
  subnetIds: network.privateSubnetIds,
  clientSecurityGroupId: cluster.nodeSecurityGroupId,
  instanceClass: config.dbInstanceClass,
  engineVersion: config.dbEngineVersion,
  allocatedStorageGb: config.dbAllocatedStorageGb,
  maxAllocatedStorageGb: config.dbMaxAllocatedStorageGb,
  multiAz: config.dbMultiAz,
  deletionProtection: config.deletionProtection,
  backupRetentionDays: config.dbBackupRetentionDays,
  logRetentionDays: config.logRetentionDays,
});

const cache = new Cache(name, {
  vpcId: network.vpcId,
  subnetIds: network.privateSubnetIds,
  clientSecurityGroupId: cluster.nodeSecurityGroupId,
  nodeType: config.redisNodeType,
  engineVersion: config.redisEngineVersion,
  replicas: config.redisReplicas,
  clusterMode: config.redisClusterMode,
  snapshotRetentionDays: config.redisSnapshotRetentionDays,
});

const authSecret = new GeneratedSecret(`${name}-auth-secret`, {
  description: `AUTH_SECRET (HS256 token key) of ${name}`,
});

const registry = new Registry(name, { forceDelete: !config.deletionProtection });

const roles = new PlatformRoles(name, {
  oidcProviderArn: cluster.oidcProviderArn,
  oidcIssuer: cluster.oidcIssuer,
  clusterName: cluster.name,
  containerInsights: config.containerInsightsEnabled,
});

const addons = new Addons(name, {
  clusterName: cluster.name,
  region: config.region,
  vpcId: network.vpcId,
  provider: cluster.provider,
  nodeGroups: nodeGroups.all.map((pool) => pool.nodeGroup),
  loadBalancerControllerRoleArn: roles.loadBalancerController.arn,
  ebsCsiDriverRoleArn: roles.ebsCsiDriver.arn,
  clusterAutoscalerRoleArn: roles.clusterAutoscaler.arn,
  volumeReclaimPolicy: config.deletionProtection ? 'Retain' : 'Delete',
  ...(roles.cloudwatchAgent ? { cloudwatchAgentRoleArn: roles.cloudwatchAgent.arn } : {}),
  keda: config.kedaEnabled,
});

const rdsCa = new RdsCaBundle(`${name}-rds-ca`);
const appDatabasePassword = new GeneratedSecret(`${name}-db-app`, {
  description: `password of the gavel_app PostgreSQL role of ${name}`,
});
// The application role exists before any Secret hands its URL to a pod.
const databaseRoles = new DatabaseRoles(
  name,
  {
    provider: cluster.provider,
    caBundlePem: rdsCa.pem,
    host: database.address,
    port: database.port,
    database: database.databaseName,
    masterSecretArn: database.masterSecretArn,
    appPassword: appDatabasePassword.value,
  },
  { dependsOn: [addons] },
);

const workloadSecrets = new WorkloadSecrets(
  name,
  {
    namespace: config.namespace,
    podSecurityEnforce: config.podSecurityEnforce,
    provider: cluster.provider,
    database: {
      host: database.address,
      port: database.port,
      name: database.databaseName,
      appPassword: appDatabasePassword.value,
      caBundlePem: rdsCa.pem,
    },
    redis: { host: cache.host, port: cache.port, authToken: cache.authToken },
    authSecret: authSecret.value,
    ...(config.metricsNamespace ? { metricsNamespace: config.metricsNamespace } : {}),
  },
  { dependsOn: [databaseRoles.job] },
);

const alarms = new Alarms(name, {
  region: config.region,
  clusterName: name,
  email: config.alarmEmail,
  database: {
    instanceId: database.instanceId,
    allocatedStorageGb: config.dbAllocatedStorageGb,
    connectionsThreshold: config.dbConnectionsAlarmThreshold,
  },
  cacheClusterIds: cache.memberClusterIds,
  containerInsights: config.containerInsightsEnabled,
  appNamespace: config.namespace,
});

// Seed 000's topology across VPC boundaries, only while a measurement needs it (it costs by the hour).
const latencyLab = config.latencyLabEnabled
  ? new LatencyLab(`${name}-latency`, {
      region: config.region,
      namespace: config.namespace,
      cluster: {
        vpcId: network.vpcId,
        cidrBlock: network.cidrBlock,
        privateSubnetIds: network.privateSubnetIds,
        privateRouteTableIds: network.privateRouteTableIds,
        nodeSecurityGroupId: cluster.nodeSecurityGroupId,
        latencyZone: network.availabilityZones[config.latencyZoneIndex]!,
      },
      clientVpcCidr: config.latencyLabClientVpcCidr,
      latencyRepositoryUrl: registry.repositoryUrls.latency,
      imageTag: config.latencyLabImageTag,
      privateDnsName: config.latencyLabPrivateDnsName,
      logRetentionDays: config.logRetentionDays,
    })
  : undefined;

export const kubeconfig = pulumi.secret(cluster.kubeconfigJson);
export const clusterName = cluster.name;
export const clusterEndpoint = cluster.endpoint;
export const vpcId = network.vpcId;
export const databaseEndpoint = pulumi.interpolate`${database.address}:${database.port}`;
export const redisEndpoint = pulumi.interpolate`${cache.host}:${cache.port}`;
export const redisClusterMode = cache.clusterMode;
export const databaseMasterSecretArn = database.masterSecretArn;
export const redisAuthTokenSecretArn = cache.authTokenSecretArn;
export const authSecretArn = authSecret.arn;
export const ecrRepositoryUrls = registry.repositoryUrls;
export const nodePools = nodeGroups.pools;
export const databaseAppPasswordSecretArn = appDatabasePassword.arn;
export const alarmTopicArn = alarms.topicArn;
export const dashboardName = alarms.dashboardName;
export const latencyLabTargets = latencyLab?.outputs.targets;
export const latencyLabEndpointServiceName = latencyLab?.endpointServiceName;
export const latencyLabAgentLogGroup = latencyLab?.agentLogGroupName;
export const latencyLabAgentCluster = latencyLab?.agentClusterName;
export const platformOutputs = describePlatform({
  stack: config.stack,
  region: config.region,
  clusterName: cluster.name,
  namespace: workloadSecrets.namespace,
  database: {
    host: database.address,
    port: database.port,
    name: database.databaseName,
    secretName: workloadSecrets.names.database,
    caBundle: RDS_CA_BUNDLE,
  },
  redis: {
    host: cache.host,
    port: cache.port,
    tls: true,
    clusterMode: cache.clusterMode,
    secretName: workloadSecrets.names.redis,
  },
  authSecretName: workloadSecrets.names.auth,
  images: registry.repositoryUrls,
  nodePools: nodeGroups.pools,
  vpcCidr: network.cidrBlock,
  storageClassName: STORAGE_CLASS,
  allowedOrigins: config.allowedOrigins,
  ...(config.metricsNamespace ? { metricsNamespace: config.metricsNamespace } : {}),
  ...(config.certificateArn ? { certificateArn: config.certificateArn } : {}),
  ...(latencyLab ? { latencyLab: latencyLab.outputs } : {}),
});

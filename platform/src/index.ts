import * as pulumi from '@pulumi/pulumi';
import { Addons } from './addons.js';
import { Alarms } from './alarms.js';
import { Cache } from './cache.js';
import { Cluster } from './cluster.js';
import { loadPlatformConfig } from './config.js';
import { Database } from './database.js';
import { GeneratedSecret } from './generated-secret.js';
import { PlatformRoles } from './iam.js';
import { WorkloadSecrets } from './k8s-secrets.js';
import { Network } from './network.js';
import { NodeGroups } from './node-groups.js';
import { platformOutputs as describePlatform } from './platform-outputs.js';
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
  snapshotRetentionDays: config.redisSnapshotRetentionDays,
});

const authSecret = new GeneratedSecret(`${name}-auth-secret`, {
  description: `AUTH_SECRET (HS256 token key) of ${name}`,
});

const registry = new Registry(name, { forceDelete: !config.deletionProtection });

const roles = new PlatformRoles(name, {
  oidcProviderArn: cluster.oidcProviderArn,
  oidcIssuer: cluster.oidcIssuer,
  servicesNamespace: config.namespace,
  servicesServiceAccount: config.servicesServiceAccount,
  readableSecretArns: [database.masterSecretArn, cache.authTokenSecretArn, authSecret.arn],
  containerInsights: config.containerInsightsEnabled,
});

new Addons(name, {
  clusterName: cluster.name,
  region: config.region,
  vpcId: network.vpcId,
  provider: cluster.provider,
  nodeGroups: nodeGroups.all.map((pool) => pool.nodeGroup),
  loadBalancerControllerRoleArn: roles.loadBalancerController.arn,
  ...(roles.cloudwatchAgent ? { cloudwatchAgentRoleArn: roles.cloudwatchAgent.arn } : {}),
  keda: config.kedaEnabled,
});

const workloadSecrets = new WorkloadSecrets(name, {
  namespace: config.namespace,
  podSecurityEnforce: config.podSecurityEnforce,
  provider: cluster.provider,
  database: {
    host: database.address,
    port: database.port,
    name: database.databaseName,
    masterSecretArn: database.masterSecretArn,
  },
  redis: { host: cache.host, port: cache.port, authToken: cache.authToken },
  authSecret: authSecret.value,
});

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
});

export const kubeconfig = pulumi.secret(cluster.kubeconfigJson);
export const clusterName = cluster.name;
export const clusterEndpoint = cluster.endpoint;
export const vpcId = network.vpcId;
export const databaseEndpoint = pulumi.interpolate`${database.address}:${database.port}`;
export const redisEndpoint = pulumi.interpolate`${cache.host}:${cache.port}`;
export const databaseMasterSecretArn = database.masterSecretArn;
export const redisAuthTokenSecretArn = cache.authTokenSecretArn;
export const authSecretArn = authSecret.arn;
export const ecrRepositoryUrls = registry.repositoryUrls;
export const nodePools = nodeGroups.pools;
export const servicesRoleArn = roles.services.arn;
export const alarmTopicArn = alarms.topicArn;
export const dashboardName = alarms.dashboardName;
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
  },
  redis: {
    host: cache.host,
    port: cache.port,
    tls: true,
    secretName: workloadSecrets.names.redis,
  },
  authSecretName: workloadSecrets.names.auth,
  images: registry.repositoryUrls,
  nodePools: nodeGroups.pools,
  ...(config.certificateArn ? { certificateArn: config.certificateArn } : {}),
});

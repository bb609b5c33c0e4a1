import { describeStack } from './support/stack-intent.js';

describeStack('prod', {
  azCount: 3,
  natGateways: 3,
  general: { instanceType: 'm6i.xlarge', minSize: 3, desiredSize: 3, maxSize: 9 },
  latencyClients: true,
  dbMultiAz: true,
  deletionProtection: true,
  dbBackupRetentionDays: 14,
  redis: { clusterShards: 3, nodesPerShard: 2 },
  logRetentionDays: 90,
});

import { describeStack } from './support/stack-intent.js';

describeStack('dev', {
  azCount: 2,
  natGateways: 1,
  general: { instanceType: 'm6i.xlarge', minSize: 2, desiredSize: 2, maxSize: 5 },
  latencyClients: false,
  dbMultiAz: false,
  deletionProtection: false,
  dbBackupRetentionDays: 1,
  redis: { clusterShards: null, nodesPerShard: 1 },
  logRetentionDays: 7,
});

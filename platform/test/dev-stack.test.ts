import { describeStack } from './support/stack-intent.js';

describeStack('dev', {
  azCount: 2,
  natGateways: 1,
  general: { instanceType: 'm6i.large', minSize: 2, desiredSize: 2, maxSize: 4 },
  latencyClients: false,
  dbMultiAz: false,
  deletionProtection: false,
  dbBackupRetentionDays: 1,
  redisNodes: 1,
  logRetentionDays: 7,
});

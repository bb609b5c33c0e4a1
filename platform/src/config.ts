import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { checkLatencyLabConfig, latencyLabConfigShape } from './latency-lab/lab-config.js';

/**
 * The stack's configuration, read once and checked before any resource is declared. Every key is
 * declared with its description and default in Pulumi.yaml; the stack files override them.
 */

/** Retention values CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** An array key, as the Pulumi CLI passes it: JSON text. */
const jsonList = (item: z.ZodString) =>
  z
    .string()
    .transform((raw, ctx) => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected a JSON array of strings' });
        return z.NEVER;
      }
    })
    .pipe(z.array(item));
const stringList = jsonList(z.string().min(1));
/** redisClusterMode: empty for one primary, or JSON `{"shards": N, "replicasPerShard": R}`. */
const redisClusterMode = z
  .string()
  .transform((raw, ctx) => {
    if (raw.trim() === '') return null;
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: 'expected "" or JSON such as {"shards":3,"replicasPerShard":1}',
      });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .object({ shards: int(1, 500), replicasPerShard: int(0, 5) })
      .strict()
      .nullable(),
  );

const rawConfigSchema = z
  .object({
    azCount: int(2, 3),
    vpcCidr: z.string().regex(/^\d{1,3}\.\d{1,3}\.0\.0\/16$/, 'expected an IPv4 /16 such as 10.0.0.0/16'),
    natGatewayPerAz: z.stringbool(),
    kubernetesVersion: z.string().regex(/^1\.\d{2}$/, 'expected a Kubernetes minor version such as 1.33'),
    clusterPublicAccessCidrs: stringList,
    clusterAdminRoleArns: stringList,
    nodeVolumeSizeGb: int(20, 1000),
    generalInstanceType: z.string().min(1),
    generalMinSize: int(1, 100),
    generalDesiredSize: int(1, 100),
    generalMaxSize: int(1, 100),
    latencyInstanceType: z.string().min(1),
    latencyNodeCount: int(0, 10),
    latencyZoneIndex: int(0, 2),
    latencyClientsEnabled: z.stringbool(),
    latencyClientsInstanceType: z.string().min(1),
    latencyClientsNodeCount: int(0, 20),
    ...latencyLabConfigShape,
    dbInstanceClass: z.string().startsWith('db.'),
    dbEngineVersion: z.string().regex(/^1[67](\.\d+)?$/, 'expected PostgreSQL 16 or 17'),
    dbAllocatedStorageGb: int(20, 65536),
    dbMaxAllocatedStorageGb: int(20, 65536),
    dbMultiAz: z.stringbool(),
    dbBackupRetentionDays: int(1, 35),
    dbConnectionsAlarmThreshold: int(1, 100000),
    redisNodeType: z.string().startsWith('cache.'),
    redisEngineVersion: z.string().regex(/^7\.\d+$/, 'expected Redis 7.x'),
    redisReplicas: int(0, 5),
    redisClusterMode,
    redisSnapshotRetentionDays: int(0, 35),
    deletionProtection: z.stringbool(),
    logRetentionDays: z.coerce
      .number()
      .int()
      .refine((days) => LOG_RETENTION_DAYS.includes(days), {
        message: `must be one of CloudWatch's retention values: ${LOG_RETENTION_DAYS.join(', ')}`,
      }),
    alarmEmail: z.union([z.literal(''), z.email()]),
    kedaEnabled: z.stringbool(),
    containerInsightsEnabled: z.stringbool(),
    certificateArn: z.union([z.literal(''), z.string().startsWith('arn:aws:acm:')]),
    podSecurityEnforce: z.enum(['privileged', 'baseline', 'restricted']),
    allowedOrigins: jsonList(
      z
        .string()
        .regex(/^https?:\/\/[a-z0-9.-]+(:\d+)?$/, 'expected an origin such as https://gavel.example.com'),
    ),
    metricsNamespace: z.union([z.literal(''), z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)]),
  })
  .superRefine((c, ctx) => {
    checkLatencyLabConfig(c, ctx);
    if (!(c.generalMinSize <= c.generalDesiredSize && c.generalDesiredSize <= c.generalMaxSize)) {
      ctx.addIssue({
        code: 'custom',
        path: ['generalDesiredSize'],
        message: 'need generalMinSize <= generalDesiredSize <= generalMaxSize',
      });
    }
    if (c.latencyZoneIndex >= c.azCount) {
      ctx.addIssue({ code: 'custom', path: ['latencyZoneIndex'], message: 'must be below azCount' });
    }
    if (c.dbMaxAllocatedStorageGb < c.dbAllocatedStorageGb) {
      ctx.addIssue({
        code: 'custom',
        path: ['dbMaxAllocatedStorageGb'],
        message: 'must be at least dbAllocatedStorageGb',
      });
    }
    if (c.redisClusterMode && c.redisReplicas > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['redisReplicas'],
        message:
          'with redisClusterMode set, replicas are per shard: set redisClusterMode.replicasPerShard instead',
      });
    }
    if (c.dbMultiAz && c.azCount < 2) {
      ctx.addIssue({ code: 'custom', path: ['dbMultiAz'], message: 'needs at least 2 zones' });
    }
  });

export type PlatformConfig = z.infer<typeof rawConfigSchema> & {
  readonly project: string;
  readonly stack: string;
  readonly region: string;
  /** EKS cluster name, also used as the prefix of every named resource. */
  readonly name: string;
  /** Namespace the workloads run in and the Kubernetes Secrets are written to. */
  readonly namespace: string;
};

export class PlatformConfigError extends Error {
  override name = 'PlatformConfigError';
}

/** Reads and validates the stack configuration; throws naming every bad key. */
export function loadPlatformConfig(): PlatformConfig {
  const project = pulumi.getProject();
  const stack = pulumi.getStack();
  const config = new pulumi.Config();
  const raw = Object.fromEntries(Object.keys(rawConfigSchema.shape).map((key) => [key, config.get(key)]));
  const parsed = rawConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  ${project}:${issue.path.join('.')}: ${issue.message}`,
    );
    throw new PlatformConfigError(`invalid stack configuration:\n${problems.join('\n')}`);
  }
  const region = new pulumi.Config('aws').get('region');
  if (!region || !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new PlatformConfigError('aws:region must be set to an AWS region such as us-east-1');
  }
  return { ...parsed.data, project, stack, region, name: `gavel-${stack}`, namespace: 'gavel' };
}

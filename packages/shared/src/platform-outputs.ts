import { z } from 'zod';
import { latencyLabSchema } from './latency-lab.js';

/**
 * The contract between `platform/` (Pulumi) and `charts-ts/` (cdk8s eks profile): the platform
 * writes this JSON from its stack outputs, charts-ts validates and reads it. Secrets never appear
 * here, only the names of the Kubernetes Secrets that hold them.
 */

/** Node label that pins the latency server to its m6i.8xlarge pool. */
export const POOL_LABEL_KEY = 'gavel.io/pool';
export const LATENCY_POOL = 'latency';
export const LATENCY_CLIENTS_POOL = 'latency-clients';
export const GENERAL_POOL = 'general';

export const taintSchema = z.object({
  key: z.string().min(1),
  value: z.string(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
});

/** How a pool is told apart: its labels and taints, as the platform sets them. */
export const nodePoolPlacementSchema = z.object({
  labels: z.record(z.string(), z.string()),
  taints: z.array(taintSchema),
});

export const nodePoolSchema = nodePoolPlacementSchema.extend({
  /** Most nodes the pool can have: what a one-pod-per-node workload may scale to. */
  maxSize: z.number().int().min(0),
});

/** The latency pool's label and taint, as the platform creates them and charts-ts tolerates them. */
export const LATENCY_NODE_POOL: z.infer<typeof nodePoolPlacementSchema> = {
  labels: { [POOL_LABEL_KEY]: LATENCY_POOL },
  taints: [{ key: POOL_LABEL_KEY, value: LATENCY_POOL, effect: 'NoSchedule' }],
};

const dns = z.string().min(1).max(253);
const secretName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
  .max(253);

export const platformOutputsSchema = z.object({
  stack: z.string().min(1),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/),
  clusterName: z.string().min(1),
  /** Namespace the platform created the Secrets in; charts-ts deploys there. */
  namespace: z.string().min(1),
  database: z.object({
    host: dns,
    port: z.number().int().min(1).max(65535),
    name: z.string().min(1),
    /**
     * Kubernetes Secret with key DATABASE_URL: the application role (never the master user),
     * sslmode=verify-full against the CA bundle below.
     */
    secretName,
    /** ConfigMap holding the RDS CA bundle that DATABASE_URL's sslrootcert names. */
    caBundle: z.object({
      configMapName: secretName,
      key: z.string().regex(/^[-._a-zA-Z0-9]+$/),
      /** Directory the services mount the ConfigMap at; sslrootcert is `<mountPath>/<key>`. */
      mountPath: z.string().regex(/^\/[^\s]*[^/\s]$/),
    }),
  }),
  redis: z.object({
    host: dns,
    port: z.number().int().min(1).max(65535),
    tls: z.boolean(),
    /** ElastiCache cluster mode: `host` is the configuration endpoint and the services run with REDIS_CLUSTER=true. */
    clusterMode: z.boolean().default(false),
    /** Kubernetes Secret with key REDIS_URL (rediss:// with the auth token). */
    secretName,
  }),
  /** Kubernetes Secret with key AUTH_SECRET (HS256 key for tokens). */
  authSecretName: secretName,
  /** ECR repository URL per service image. */
  images: z.object({
    api: z.string().min(1),
    broadcast: z.string().min(1),
    archival: z.string().min(1),
    latency: z.string().min(1),
  }),
  nodePools: z.object({
    general: nodePoolSchema,
    latency: nodePoolSchema,
    latencyClients: nodePoolSchema.optional(),
  }),
  /** The VPC's IPv4 block: where the load balancers, RDS and ElastiCache live. */
  vpcCidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/),
  /** StorageClass (EBS CSI, gp3, encrypted) that every volume claim names. */
  storageClassName: secretName,
  /** Browser Origins broadcast accepts (ALLOWED_ORIGINS); empty refuses every browser. */
  allowedOrigins: z.array(z.url()),
  /** Namespace of the Prometheus that scrapes /metrics, when the platform has one. */
  metricsNamespace: secretName.optional(),
  /** ACM certificate for the ALB's HTTPS listener; without it the Ingress serves HTTP only. */
  certificateArn: z.string().startsWith('arn:aws:acm:').optional(),
  /** The latency lab across VPC boundaries, when the stack's latencyLabEnabled is on. */
  latencyLab: latencyLabSchema.optional(),
});

export type PlatformOutputs = z.infer<typeof platformOutputsSchema>;

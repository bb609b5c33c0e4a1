import { z } from 'zod';

/**
 * The latency lab across network boundaries (seed 000's server / transit / client topology): the
 * names the platform, charts-ts and the latency client agree on, and the shape of the
 * `latencyLab` block of the platform outputs, which is also the compare mode's targets file.
 */

/** Port of the latency echo server: pods, Services, the lab NLB and ALB listeners, the endpoint. */
export const LATENCY_SERVER_PORT = 8090;
/** Port of the latency client agent in the client VPC (the compare mode's remote hand). */
export const LATENCY_AGENT_PORT = 8091;
/** ClusterIP Service of the latency server (charts-ts). */
export const LATENCY_SERVER_SERVICE = 'latency-server';
/** Headless Service of the latency server: its DNS name answers with pod IPs (no kube-proxy hop). */
export const LATENCY_SERVER_PODS_SERVICE = 'latency-server-pods';

/**
 * Where a path is measured from: a pod in the cluster (the compare Job) or the agent in the
 * client VPC (the ECS Fargate service).
 */
export const LATENCY_VANTAGES = ['cluster', 'client-vpc'] as const;
export type LatencyVantage = (typeof LATENCY_VANTAGES)[number];

const label = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a lowercase label such as nlb-peering')
  .max(40);

export const latencyTargetSchema = z.object({
  /** Name of the path in reports. */
  label,
  /** ws:// URL of the echo endpoint along this path. */
  url: z.url({ protocol: /^wss?$/ }),
  from: z.enum(LATENCY_VANTAGES),
  /** One line saying which boundaries the path crosses. */
  description: z.string().min(1),
});
export type LatencyTarget = z.infer<typeof latencyTargetSchema>;

const arn = z.string().startsWith('arn:aws');

export const latencyLabSchema = z
  .object({
    /** The client VPC's IPv4 block (peered with the cluster VPC, never overlapping it). */
    clientVpcCidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/),
    /** Target groups of the lab NLB and ALB; charts-ts binds the latency server's pods to them. */
    targetGroupArns: z.object({ nlb: arn, alb: arn }),
    /** The agent in the client VPC that measures its paths on the compare mode's behalf. */
    agentUrl: z.url({ protocol: /^https?$/ }),
    /** Every path the compare mode measures, in order; the first is the baseline. */
    targets: z.array(latencyTargetSchema).min(1),
  })
  .superRefine((lab, ctx) => {
    const seen = new Set<string>();
    for (const [i, t] of lab.targets.entries()) {
      if (seen.has(t.label)) {
        ctx.addIssue({ code: 'custom', path: ['targets', i, 'label'], message: `label ${t.label} twice` });
      }
      seen.add(t.label);
    }
  });
export type LatencyLab = z.infer<typeof latencyLabSchema>;

import { z } from 'zod';

/**
 * The latency lab's stack keys (declared with their defaults in Pulumi.yaml), kept beside the lab
 * so config.ts only spreads them in and calls {@link checkLatencyLabConfig}.
 */
export const latencyLabConfigShape = {
  latencyLabEnabled: z.stringbool(),
  latencyLabClientVpcCidr: z
    .string()
    .regex(/^\d{1,3}\.\d{1,3}\.0\.0\/16$/, 'expected an IPv4 /16 such as 10.1.0.0/16'),
  latencyLabImageTag: z.union([
    z.literal(''),
    z.string().regex(/^[\w][\w.-]{0,127}$/, 'expected an image tag'),
  ]),
  latencyLabPrivateDnsName: z.union([
    z.literal(''),
    z
      .string()
      .regex(
        /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$/,
        'expected a DNS name such as latency.example.com',
      ),
  ]),
};

interface LatencyLabKeys {
  readonly vpcCidr: string;
  readonly latencyLabEnabled: boolean;
  readonly latencyLabClientVpcCidr: string;
  readonly latencyLabImageTag: string;
}

/** The first two octets of a /16, as one number, to compare blocks. */
const prefix16 = (cidr: string) => cidr.split('.').slice(0, 2).join('.');

/** Cross-key rules: a tag for the client image, and a client VPC that peering can route to. */
export function checkLatencyLabConfig(c: LatencyLabKeys, ctx: z.RefinementCtx): void {
  if (!c.latencyLabEnabled) return;
  if (c.latencyLabImageTag === '') {
    ctx.addIssue({
      code: 'custom',
      path: ['latencyLabImageTag'],
      message: 'must name the latency image tag in ECR (npm run images) when latencyLabEnabled is true',
    });
  }
  // Both are /16s: they overlap exactly when their first two octets match, and peering refuses
  // overlapping blocks.
  if (prefix16(c.latencyLabClientVpcCidr) === prefix16(c.vpcCidr)) {
    ctx.addIssue({
      code: 'custom',
      path: ['latencyLabClientVpcCidr'],
      message: `overlaps vpcCidr ${c.vpcCidr}; peered VPCs need disjoint blocks`,
    });
  }
}

import { z } from 'zod';
import { loadSpecSchema } from './cli-options.js';
import { decodeHistogram, encodeHistogram } from './latency-histogram.js';
import type { LoadResult } from './load-run.js';
import { PROTOCOLS, type Protocol } from './probe-transport.js';

/**
 * A load run as JSON, histograms included (HdrHistogram's compressed base64): how the agent in
 * the client VPC hands its runs to the compare mode, which reports them beside its own.
 */
export const loadResultWireSchema = z.object({
  target: z.object({
    label: z.string().min(1),
    url: z.string().url(),
    protocol: z.enum(PROTOCOLS as [Protocol, ...Protocol[]]),
  }),
  spec: loadSpecSchema,
  histogram: z.string().min(1),
  serviceHistogram: z.string().min(1),
  expected: z.number().int().min(0),
  sent: z.number().int().min(0),
  received: z.number().int().min(0),
  lost: z.number().int().min(0),
  errors: z.number().int().min(0),
  achievedRate: z.number().min(0),
  maxSendLagMs: z.number().min(0),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type LoadResultWire = z.infer<typeof loadResultWireSchema>;

export function toWire(result: LoadResult): LoadResultWire {
  return {
    ...result,
    target: { label: result.target.label, url: result.target.url.href, protocol: result.target.protocol },
    histogram: encodeHistogram(result.histogram),
    serviceHistogram: encodeHistogram(result.serviceHistogram),
  };
}

export function fromWire(wire: LoadResultWire): LoadResult {
  return {
    ...wire,
    target: { label: wire.target.label, url: new URL(wire.target.url), protocol: wire.target.protocol },
    histogram: decodeHistogram(wire.histogram),
    serviceHistogram: decodeHistogram(wire.serviceHistogram),
  };
}

import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

export type { Histogram };

/** Values are recorded in microseconds; anything above an hour is clamped to an hour. */
export const HIGHEST_TRACKABLE_US = 3_600_000_000;

/** HdrHistogram in microseconds with 3 significant digits (0.1 % resolution at every scale). */
export function createLatencyHistogram(): Histogram {
  return hdr.build({
    numberOfSignificantValueDigits: 3,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKABLE_US,
    autoResize: true,
  });
}

export function recordNs(histogram: Histogram, ns: number): void {
  const us = Math.round(ns / 1000);
  histogram.recordValue(Math.min(HIGHEST_TRACKABLE_US, Math.max(1, us)));
}

/** The percentiles every report shows, in milliseconds. */
export interface PercentileSummary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p99_9: number;
  readonly p99_99: number;
  readonly max: number;
}

export const SUMMARY_COLUMNS = ['p50', 'p90', 'p99', 'p99_9', 'p99_99', 'max'] as const;
export const SUMMARY_LABELS: Record<(typeof SUMMARY_COLUMNS)[number], string> = {
  p50: 'p50',
  p90: 'p90',
  p99: 'p99',
  p99_9: 'p99.9',
  p99_99: 'p99.99',
  max: 'max',
};

const ms = (us: number) => Math.round(us) / 1000;

export function summarize(histogram: Histogram): PercentileSummary {
  const count = histogram.totalCount;
  if (count === 0) return { count, mean: 0, p50: 0, p90: 0, p99: 0, p99_9: 0, p99_99: 0, max: 0 };
  return {
    count,
    mean: ms(histogram.mean),
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p99_9: ms(histogram.getValueAtPercentile(99.9)),
    p99_99: ms(histogram.getValueAtPercentile(99.99)),
    max: ms(histogram.maxValue),
  };
}

/** HdrHistogram's standard percentile-distribution text (the `.hgrm` format), values in ms. */
export function percentileDistribution(histogram: Histogram): string {
  if (histogram.totalCount === 0) {
    return '       Value     Percentile TotalCount 1/(1-Percentile)\n\n#[Total count    =            0]\n';
  }
  return histogram.outputPercentileDistribution(5, 1000);
}

/**
 * A histogram as text that survives a log line or an HTTP body: HdrHistogram's compressed
 * base64 encoding, which every HdrHistogram port reads back.
 */
export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

/** Reads {@link encodeHistogram}'s text back into a histogram in the same units (µs). */
export function decodeHistogram(text: string): Histogram {
  const decoded = hdr.decodeFromCompressedBase64(text);
  const histogram = createLatencyHistogram();
  histogram.add(decoded);
  return histogram;
}

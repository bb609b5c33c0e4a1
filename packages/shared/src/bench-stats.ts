import * as hdr from 'hdr-histogram-js';

/**
 * Percentiles (ms) of one or more runs' latency histograms (HdrHistogram, µs values, each
 * encoded as compressed base64 by the process that recorded it), merged into one.
 */
export function latencySummary(encoded: readonly string[]) {
  const merged = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const e of encoded) merged.add(hdr.decodeFromCompressedBase64(e));
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count: merged.totalCount,
    p50: ms(merged.getValueAtPercentile(50)),
    p90: ms(merged.getValueAtPercentile(90)),
    p99: ms(merged.getValueAtPercentile(99)),
    p99_9: ms(merged.getValueAtPercentile(99.9)),
    max: ms(merged.maxValue),
  };
}

/** The median of the finite values (NaN when there are none): the figure reported per round set. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

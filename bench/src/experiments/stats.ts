/** Small helpers the experiments share. */

export function median(values: readonly number[]): number {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const round = (n: number, digits = 2) => (Number.isFinite(n) ? +n.toFixed(digits) : Number.NaN);

/** CPU seconds of a deployed service from its Prometheus /metrics (prom-client's process_cpu_*), or NaN. */
export async function metricsCpuSeconds(baseUrl: string): Promise<number> {
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return Number.NaN;
    const text = await res.text();
    const v = /^process_cpu_seconds_total(?:\{[^}]*\})? ([\d.e+-]+)/m.exec(text)?.[1];
    return v === undefined ? Number.NaN : Number(v);
  } catch {
    return Number.NaN;
  }
}

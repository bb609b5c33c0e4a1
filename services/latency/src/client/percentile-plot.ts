import type { Histogram } from './latency-histogram.js';

/** One line on the plot. */
export interface PlotSeries {
  readonly label: string;
  readonly histogram: Histogram;
}

export interface PlotOptions {
  readonly title: string;
  /** Shown under the title (load, payload, date). */
  readonly subtitle?: string;
  /** @default 900 */
  readonly width?: number;
  /** @default 520 */
  readonly height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const escapeXml = (text: string) =>
  text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

const PERCENTILE_LABELS: ReadonlyArray<readonly [number, string]> = [
  [0, '0%'],
  [50, '50%'],
  [90, '90%'],
  [99, '99%'],
  [99.9, '99.9%'],
  [99.99, '99.99%'],
  [99.999, '99.999%'],
];

/** A step size of 1, 2 or 5 × 10^n that gives about `ticks` ticks up to `max`. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  return step ?? 10 * magnitude;
}

/**
 * The percentile distribution as HdrHistogram's plotter draws it: x is the percentile on a
 * log scale of 1/(1-p) (so 90 %, 99 %, 99.9 % are evenly spaced and the tail gets the room),
 * y is latency in ms. Several series share the axes in compare mode.
 */
export function renderPercentilePlot(series: readonly PlotSeries[], options: PlotOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 520;
  const margin = { top: 64, right: 24, bottom: 56, left: 72 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;

  // As many nines as the largest series can resolve, at least three (99.9 %), at most five.
  const maxCount = Math.max(1, ...series.map((s) => s.histogram.totalCount));
  const decades = Math.min(5, Math.max(3, Math.ceil(Math.log10(maxCount))));
  const maxValueMs = Math.max(0.001, ...series.map((s) => s.histogram.maxValue / 1000));
  const yStep = niceStep(maxValueMs, 6);
  const yMax = Math.ceil((maxValueMs * 1.02) / yStep) * yStep;

  const xOf = (percentile: number) => {
    const inverse = Math.min(decades, Math.log10(1 / Math.max(1e-12, 1 - percentile / 100)));
    return margin.left + (inverse / decades) * plotW;
  };
  const yOf = (ms: number) => margin.top + plotH - (ms / yMax) * plotH;
  const fmt = (n: number) => n.toFixed(1);

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(options.title)}</text>`,
  );
  if (options.subtitle) {
    parts.push(
      `<text x="${width / 2}" y="44" text-anchor="middle" fill="#555555">${escapeXml(options.subtitle)}</text>`,
    );
  }

  // Grid and axes.
  parts.push('<g stroke="#dddddd" stroke-width="1">');
  for (let v = 0; v <= yMax + yStep / 2; v += yStep) {
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${fmt(yOf(v))}" y2="${fmt(yOf(v))}"/>`,
    );
  }
  for (const [p] of PERCENTILE_LABELS) {
    if (Math.log10(1 / (1 - p / 100)) > decades + 1e-9) continue;
    parts.push(
      `<line x1="${fmt(xOf(p))}" x2="${fmt(xOf(p))}" y1="${margin.top}" y2="${margin.top + plotH}"/>`,
    );
  }
  parts.push('</g>');
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333333"/>`,
  );
  parts.push('<g fill="#333333">');
  for (let v = 0; v <= yMax + yStep / 2; v += yStep) {
    const label = Number(v.toPrecision(6)).toString();
    parts.push(`<text x="${margin.left - 8}" y="${fmt(yOf(v) + 4)}" text-anchor="end">${label}</text>`);
  }
  for (const [p, label] of PERCENTILE_LABELS) {
    if (Math.log10(1 / (1 - p / 100)) > decades + 1e-9) continue;
    parts.push(
      `<text x="${fmt(xOf(p))}" y="${margin.top + plotH + 18}" text-anchor="middle">${label}</text>`,
    );
  }
  parts.push(
    `<text x="${margin.left + plotW / 2}" y="${height - 12}" text-anchor="middle">percentile</text>`,
    `<text transform="translate(18 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">latency (ms)</text>`,
    '</g>',
  );

  // One polyline per series, sampled evenly along the log axis.
  const steps = 400;
  series.forEach((s, index) => {
    const color = COLORS[index % COLORS.length]!;
    const count = s.histogram.totalCount;
    if (count === 0) return;
    const points: string[] = [];
    for (let i = 0; i <= steps; i++) {
      const percentile = 100 * (1 - 10 ** (-(i / steps) * decades));
      const value = i === steps ? s.histogram.maxValue : s.histogram.getValueAtPercentile(percentile);
      points.push(`${fmt(xOf(percentile))},${fmt(yOf(value / 1000))}`);
    }
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"><title>${escapeXml(s.label)}</title></polyline>`,
    );
  });

  // Legend, top left inside the plot where the curves are lowest, on white so lines stay readable.
  const legendWidth = Math.min(plotW - 16, 60 + 7 * Math.max(0, ...series.map((s) => s.label.length + 32)));
  parts.push(
    `<rect x="${margin.left + 6}" y="${margin.top + 4}" width="${legendWidth}" height="${series.length * 18 + 8}" fill="#ffffff" fill-opacity="0.85" stroke="#cccccc"/>`,
  );
  series.forEach((s, index) => {
    const color = COLORS[index % COLORS.length]!;
    const y = margin.top + 16 + index * 18;
    const p99 = s.histogram.totalCount ? (s.histogram.getValueAtPercentile(99) / 1000).toFixed(3) : '-';
    parts.push(
      `<line x1="${margin.left + 12}" x2="${margin.left + 36}" y1="${y - 4}" y2="${y - 4}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${margin.left + 42}" y="${y}">${escapeXml(`${s.label} (p99 ${p99} ms, n=${s.histogram.totalCount})`)}</text>`,
    );
  });

  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

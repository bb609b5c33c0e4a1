/**
 * Small SVG charts for the reports: lines over a numeric x axis (optionally logarithmic) and
 * grouped bars. Self-contained SVG, readable on GitHub and in any browser.
 */

export interface Series {
  readonly label: string;
  readonly points: ReadonlyArray<{ readonly x: number; readonly y: number }>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const W = 720;
const H = 400;
const M = { left: 70, right: 20, top: 50, bottom: 70 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(title: string, subtitle: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>
<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">${esc(subtitle)}</text>
${body}
</svg>
`;
}

function yAxis(yMax: number, label: string): string {
  const plotH = H - M.top - M.bottom;
  const ticks = Array.from({ length: 6 }, (_, i) => (yMax * i) / 5);
  return [
    ...ticks.map((t) => {
      const y = M.top + plotH - (t / yMax) * plotH;
      return `<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${+t.toPrecision(3)}</text>`;
    }),
    `<text transform="translate(16 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`,
  ].join('\n');
}

function legend(labels: readonly string[]): string {
  return labels
    .map((l, i) => {
      const x = M.left + (i % 3) * 220;
      const y = H - 28 + Math.floor(i / 3) * 14;
      return `<rect x="${x}" y="${y - 9}" width="12" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${x + 16}" y="${y}">${esc(l)}</text>`;
    })
    .join('\n');
}

export function lineChart(o: {
  title: string;
  subtitle: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  logX?: boolean;
  /** Vertical dashed lines at these x, labelled (events on a timeline). */
  markers?: ReadonlyArray<{ x: number; label: string }>;
  /** About ten x ticks instead of one per distinct x (long timelines). */
  sparseTicks?: boolean;
}): string {
  const xs = o.series.flatMap((s) => s.points.map((p) => p.x)).filter((x) => Number.isFinite(x));
  const ys = o.series.flatMap((s) => s.points.map((p) => p.y)).filter((y) => Number.isFinite(y));
  const fx = (x: number) => (o.logX ? Math.log10(Math.max(x, 1e-9)) : x);
  const xMin = Math.min(...xs.map(fx));
  const xMax = Math.max(...xs.map(fx));
  const yMax = niceMax(Math.max(...ys, 0));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const px = (x: number) => M.left + (xMax === xMin ? plotW / 2 : ((fx(x) - xMin) / (xMax - xMin)) * plotW);
  const py = (y: number) => M.top + plotH - (y / yMax) * plotH;
  const distinct = [...new Set(xs)].sort((a, b) => a - b);
  const step = Math.max(1, Math.ceil(distinct.length / 10));
  const xTicks = o.sparseTicks ? distinct.filter((_, i) => i % step === 0) : distinct;
  const body = [
    yAxis(yMax, o.yLabel),
    ...xTicks.map(
      (x) =>
        `<line x1="${px(x)}" x2="${px(x)}" y1="${M.top + plotH}" y2="${M.top + plotH + 4}" stroke="#333"/><text x="${px(x)}" y="${M.top + plotH + 18}" text-anchor="middle">${x}</text>`,
    ),
    `<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + plotH}" y2="${M.top + plotH}" stroke="#333"/>`,
    `<text x="${M.left + plotW / 2}" y="${M.top + plotH + 36}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    ...o.series.map((s, i) => {
      const pts = s.points.filter((p) => Number.isFinite(p.y));
      const color = COLORS[i % COLORS.length];
      return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>${pts.map((p) => `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3" fill="${color}"/>`).join('')}`;
    }),
    ...(o.markers ?? []).map(
      (m) =>
        `<line x1="${px(m.x)}" x2="${px(m.x)}" y1="${M.top}" y2="${M.top + plotH}" stroke="#555" stroke-dasharray="4 3"/><text x="${px(m.x) + 3}" y="${M.top + 12}" fill="#555">${esc(m.label)}</text>`,
    ),
    legend(o.series.map((s) => s.label)),
  ];
  return frame(o.title, o.subtitle, body.join('\n'));
}

export function barChart(o: {
  title: string;
  subtitle: string;
  yLabel: string;
  /** One group per category on the x axis; each bar of a group in the series order. */
  groups: ReadonlyArray<{ readonly label: string; readonly values: readonly number[] }>;
  seriesLabels: readonly string[];
  /** A horizontal reference line (a target), with its label. */
  reference?: { value: number; label: string };
}): string {
  const all = o.groups.flatMap((g) => g.values).filter(Number.isFinite);
  const yMax = niceMax(Math.max(...all, o.reference?.value ?? 0));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const gw = plotW / Math.max(1, o.groups.length);
  const bw = (gw * 0.8) / Math.max(1, o.seriesLabels.length);
  const py = (y: number) => M.top + plotH - (y / yMax) * plotH;
  const body = [
    yAxis(yMax, o.yLabel),
    `<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + plotH}" y2="${M.top + plotH}" stroke="#333"/>`,
    ...o.groups.map((g, gi) => {
      const x0 = M.left + gi * gw + gw * 0.1;
      const bars = g.values
        .map((v, i) =>
          Number.isFinite(v)
            ? `<rect x="${(x0 + i * bw).toFixed(1)}" y="${py(v).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(M.top + plotH - py(v)).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${esc(`${o.seriesLabels[i]}: ${v}`)}</title></rect>`
            : '',
        )
        .join('');
      return `${bars}<text x="${(x0 + gw * 0.4).toFixed(1)}" y="${M.top + plotH + 18}" text-anchor="middle">${esc(g.label)}</text>`;
    }),
    o.reference
      ? `<line x1="${M.left}" x2="${W - M.right}" y1="${py(o.reference.value)}" y2="${py(o.reference.value)}" stroke="#000" stroke-dasharray="6 4"/><text x="${W - M.right}" y="${py(o.reference.value) - 4}" text-anchor="end">${esc(o.reference.label)}</text>`
      : '',
    legend(o.seriesLabels),
  ];
  return frame(o.title, o.subtitle, body.join('\n'));
}

/* global document */
import { formatCents, localTime } from './format.js';

/**
 * A small price-over-time chart of one item's bids, drawn as SVG: a step line (the price holds
 * until the next bid), a dot per bid (the viewer's own filled), the lowest and highest price and
 * the first and last time on the axes. Small enough not to need a charting library; redrawn whole
 * on every bid, which costs nothing at these sizes.
 */

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 320;
const HEIGHT = 140;
const PAD = { left: 52, right: 10, top: 10, bottom: 22 };
/** The newest bids drawn; older ones would be specks at this size. */
export const MAX_POINTS = 200;

function node(tag, attrs = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

/** One sentence for screen readers and the chart's title. */
export function describeChart(points, emptyText = 'No bids yet') {
  if (points.length === 0) return `Price over time: ${emptyText.toLowerCase()}.`;
  const first = points[0];
  const last = points[points.length - 1];
  const count = `${points.length} bid${points.length === 1 ? '' : 's'}`;
  return points.length === 1
    ? `Price over time: 1 bid, ${formatCents(last.cents)} by ${last.userId}.`
    : `Price over time: ${count}, from ${formatCents(first.cents)} to ${formatCents(last.cents)} (now ${last.userId}).`;
}

/**
 * Draws `bids` (any order, each `{seq, cents, atMs, userId}`) into `svg`.
 * @param {SVGSVGElement} svg
 * @param {{ seq: number, cents: number, atMs: number, userId: string }[]} bids
 * @param {{ me?: string, nowMs?: number, startCents?: number, emptyText?: string }} options
 */
export function renderPriceChart(
  svg,
  bids,
  { me, nowMs = Date.now(), startCents, emptyText = 'No bids yet' } = {},
) {
  const points = [...bids].sort((a, b) => a.seq - b.seq).slice(-MAX_POINTS);
  const title = describeChart(points, emptyText);
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  svg.dataset.points = String(points.length);
  const children = [node('title', {}, title)];
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  // Axes frame.
  children.push(
    node('line', {
      class: 'axis',
      x1: PAD.left,
      y1: PAD.top + plotH,
      x2: WIDTH - PAD.right,
      y2: PAD.top + plotH,
    }),
    node('line', { class: 'axis', x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: PAD.top + plotH }),
  );
  if (points.length === 0) {
    children.push(
      node(
        'text',
        { class: 'chart-empty', x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle' },
        emptyText,
      ),
    );
    svg.replaceChildren(...children);
    return;
  }

  const first = points[0];
  const last = points[points.length - 1];
  const t0 = first.atMs;
  // At least a minute across, so a burst of bids is not one vertical line; the price line runs
  // on to now (the price holds), but never so far that long-quiet bids get squashed left.
  const t1 = Math.max(t0 + 60_000, last.atMs, Math.min(nowMs, last.atMs + Math.max(60_000, last.atMs - t0)));
  const lineEnd = Math.max(last.atMs, Math.min(nowMs, t1));
  const floor = Math.min(startCents ?? first.cents, first.cents);
  const lo = floor;
  const hi = Math.max(last.cents, ...points.map((p) => p.cents));
  const span = hi - lo || Math.max(1, Math.round(hi * 0.1));
  const x = (t) => PAD.left + (t1 === t0 ? plotW / 2 : ((t - t0) / (t1 - t0)) * plotW);
  const y = (c) => PAD.top + plotH - ((c - lo) / span) * plotH;

  let d = `M${x(first.atMs).toFixed(1)},${y(first.cents).toFixed(1)}`;
  for (const p of points.slice(1)) d += ` H${x(p.atMs).toFixed(1)} V${y(p.cents).toFixed(1)}`;
  d += ` H${x(lineEnd).toFixed(1)}`;
  children.push(node('path', { class: 'price-line', d }));

  for (const p of points) {
    const dot = node('circle', {
      class: `price-dot${p.userId === me ? ' mine' : ''}`,
      cx: x(p.atMs).toFixed(1),
      cy: y(p.cents).toFixed(1),
      r: p === last ? 4 : 2.5,
    });
    dot.append(node('title', {}, `#${p.seq} ${p.userId} ${formatCents(p.cents)} at ${localTime(p.atMs)}`));
    children.push(dot);
  }

  const label = (text, attrs) => node('text', { class: 'chart-label', ...attrs }, text);
  children.push(
    label(formatCents(hi), { x: PAD.left - 4, y: PAD.top + 4, 'text-anchor': 'end' }),
    label(formatCents(lo), { x: PAD.left - 4, y: PAD.top + plotH, 'text-anchor': 'end' }),
    label(localTime(t0), { x: PAD.left, y: HEIGHT - 6, 'text-anchor': 'start' }),
    label(localTime(t1), { x: WIDTH - PAD.right, y: HEIGHT - 6, 'text-anchor': 'end' }),
  );
  svg.replaceChildren(...children);
}

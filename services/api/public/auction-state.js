import { centsOf, formatCents, toCents } from './format.js';

/**
 * What one user's position on one auction is, as plain data the page renders: pure functions of
 * the item, its bids and who is looking, so the page and its test read them the same way.
 */

/** How many increments above the minimum each quick-bid button adds. */
export const QUICK_BID_STEPS = Object.freeze([0, 1, 5]);

/** The item's rules in cents: what a bid must reach with no bid yet, and the step after one. */
export function rulesOf(item) {
  return {
    startCents: item?.startingPriceCents ?? toCents(item?.startingPrice),
    stepCents: item?.minIncrementCents ?? toCents(item?.minIncrement),
  };
}

/** The highest bid among those seen (by seq), else the item's own record of it. */
export function topBid(item, bids) {
  let top;
  for (const bid of bids) if (!top || bid.seq > top.seq) top = bid;
  if (top) return top;
  return item?.highestBid ?? undefined;
}

/** The smallest acceptable next bid in cents, when the item tells its rules. */
export function minimumBidCents(item, bids) {
  const { startCents, stepCents } = rulesOf(item);
  const top = topBid(item, bids);
  if (!top) return startCents;
  const highest = centsOf(top);
  return highest === undefined || stepCents === undefined ? undefined : highest + stepCents;
}

/**
 * The one-click bids: the minimum, then the minimum plus 1 and 5 increments.
 * @returns {{ cents: number, label: string, name: string }[]}
 */
export function quickBids(item, bids) {
  const minimum = minimumBidCents(item, bids);
  const { stepCents } = rulesOf(item);
  if (minimum === undefined || !stepCents) return [];
  return QUICK_BID_STEPS.map((steps) => {
    const cents = minimum + steps * stepCents;
    const label = steps === 0 ? 'minimum' : `+${steps} step${steps === 1 ? '' : 's'}`;
    return { cents, label, name: `Bid ${formatCents(cents)} (${label})` };
  });
}

/**
 * Where `me` stands: `winning`, `outbid` (bid before, someone else leads), `open` (never bid),
 * or, once closed, `won`, `lost`, `unsold`. `text` is the sentence shown and announced.
 */
export function standingOf(item, bids, me) {
  const top = topBid(item, bids);
  const closed = item?.status === 'closed';
  const winner = closed
    ? (item.winner ?? (top ? { userId: top.userId, amountCents: centsOf(top) } : null))
    : null;
  if (closed) {
    if (!winner) return { kind: 'unsold', text: 'Closed with no bids.' };
    const price = formatCents(centsOf(winner));
    if (me && winner.userId === me) return { kind: 'won', text: `You won at ${price}!` };
    return { kind: 'lost', text: `Closed — won by ${winner.userId} at ${price}.` };
  }
  if (!me) return { kind: 'open', text: '' };
  if (top && top.userId === me)
    return { kind: 'winning', text: `You're winning at ${formatCents(centsOf(top))}.` };
  const mine = [...bids].some((bid) => bid.userId === me);
  if (mine && top) {
    return {
      kind: 'outbid',
      text: `You've been outbid by ${top.userId} (${formatCents(centsOf(top))}).`,
    };
  }
  return { kind: 'open', text: '' };
}

/** Countdown text and urgency: `calm`, `soon` (under 5 min), `final` (under a minute), `ended`. */
export function countdownOf(endsAt, now = Date.now()) {
  const end = typeof endsAt === 'number' ? endsAt : Date.parse(String(endsAt ?? ''));
  if (!Number.isFinite(end)) return { text: '', urgency: 'calm' };
  let s = Math.ceil((end - now) / 1000);
  if (s <= 0) return { text: 'ending…', urgency: 'ended' };
  const urgency = s < 60 ? 'final' : s < 300 ? 'soon' : 'calm';
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const pad = (n) => String(n).padStart(2, '0');
  const text = d > 0 ? `${d}d ${h}h left` : h > 0 ? `${h}h ${pad(m)}m left` : `${m}:${pad(s)} left`;
  return { text, urgency };
}

import { makeEvent, type BidAccepted } from '@gavel/shared';

/** Items the benchmark's bids are spread over. */
export const BENCH_ITEMS = 50;

/**
 * The i-th bid of a benchmark run: items take turns, each item's seqs are 1, 2, 3... with no
 * gap, and the id looks like the UUIDs the api writes (same length, so the same index cost).
 * The load process and the COPY baseline build the same rows from the same (tag, i).
 */
export function benchBid(tag: string, i: number, at = new Date()): BidAccepted {
  const seq = Math.floor(i / BENCH_ITEMS) + 1;
  return makeEvent(
    'bid.accepted',
    { itemId: `item${i % BENCH_ITEMS}`, seq, userId: `u${i % 97}`, amountCents: 100 * seq },
    { id: `${tag}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`, at },
  );
}

/** A tag for benchBid: 8 hex digits. */
export function benchTag(): string {
  return Math.floor(Math.random() * 0xffff_ffff)
    .toString(16)
    .padStart(8, '0');
}

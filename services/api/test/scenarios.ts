import { expect } from 'vitest';
import { waitFor } from '@gavel/shared/testing';
import type { Topology } from '@gavel/shared';
import { bid, createItem, http, readStream } from './helpers.js';

/**
 * Bidding scenarios run against one Redis and against a Redis Cluster alike: the same
 * expectations, whatever the layout of the keys.
 */

/**
 * `bidders` bids at once on one item over real HTTP: the accepted ones get seqs 1..N with no
 * gap or repeat, each beat every earlier one, the item shows the largest, and the relay puts
 * exactly those N bid events into JetStream (and empties the outbox).
 */
export async function raceOnOneItem(
  url: string,
  options: { bidders: number; topology: Topology; outboxDepth: () => Promise<number> },
): Promise<void> {
  const item = await createItem(url, { startingPrice: '1.00', minIncrement: '0.01' });
  // Distinct amounts in shuffled order, so some bids win and some arrive too low.
  const amounts = Array.from({ length: options.bidders }, (_, i) => 100 + i);
  for (let i = amounts.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [amounts[i], amounts[j]] = [amounts[j]!, amounts[i]!];
  }
  const answers = await Promise.all(
    amounts.map((cents, i) => bid(url, item, `bidder${i}`, (cents / 100).toFixed(2))),
  );

  for (const a of answers) {
    expect([201, 409], JSON.stringify(a.body)).toContain(a.status);
    if (a.status === 409) expect(['bid_too_low', 'contention']).toContain(a.body.error);
  }
  const accepted = answers.filter((a) => a.status === 201).map((a) => a.body);
  expect(accepted.length).toBeGreaterThan(0);
  const seqs = accepted.map((b) => Number(b.seq)).sort((a, b) => a - b);
  expect(seqs).toEqual(Array.from({ length: accepted.length }, (_, i) => i + 1));
  // Each accepted bid beat every earlier one.
  const bySeq = [...accepted].sort((a, b) => Number(a.seq) - Number(b.seq));
  for (let i = 1; i < bySeq.length; i++) {
    expect(Number(bySeq[i]!.amountCents)).toBeGreaterThan(Number(bySeq[i - 1]!.amountCents));
  }
  const maxAccepted = Math.max(...accepted.map((b) => Number(b.amountCents)));
  const view = await http(url, 'GET', `/api/v1/items/${item}`);
  expect(view.body.bidCount).toBe(accepted.length);
  expect(view.body.highestBid).toMatchObject({ amountCents: maxAccepted, seq: accepted.length });

  const bidEvents = async () =>
    (await readStream(options.topology)).filter((e) => e.type === 'bid.accepted' && e.itemId === item);
  const published = await waitFor(
    async () => {
      const events = await bidEvents();
      return events.length >= accepted.length ? events : null;
    },
    { timeoutMs: 60_000, what: 'bid events in JetStream' },
  );
  await waitFor(async () => (await options.outboxDepth()) === 0, {
    timeoutMs: 30_000,
    what: 'outbox to drain',
  });
  expect(await bidEvents()).toHaveLength(accepted.length);
  const fromStream = published
    .map((e) => (e.type === 'bid.accepted' ? `${e.seq}:${e.userId}:${e.amountCents}` : ''))
    .sort();
  const fromAnswers = accepted.map((b) => `${b.seq}:${b.userId}:${b.amountCents}`).sort();
  expect(fromStream).toEqual(fromAnswers);
}

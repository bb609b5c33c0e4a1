import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@gavel/shared/testing';
import {
  RedisProbe,
  bid,
  cleanupNames,
  createItem,
  http,
  readStream,
  startApi,
  testNames,
  type TestApi,
} from './helpers.js';

const BIDDERS = 500;

/**
 * 500 bids at once on one item over real HTTP: the accepted ones get seqs 1..N with no gap or
 * repeat, the highest is the largest accepted amount, and the relay puts exactly those N bid
 * events into JetStream.
 */
describe.each(['lua', 'optimistic'] as const)('%s strategy under contention', (strategy) => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let api: TestApi;

  beforeAll(async () => {
    api = await startApi(names, { BID_STRATEGY: strategy, OUTBOX_RELAY: 'true' });
  });
  afterAll(async () => {
    await api?.close();
    await cleanupNames(names, probe);
  });

  it(`orders ${BIDDERS} concurrent bids without gaps and publishes each accepted one once`, async () => {
    const item = await createItem(api.url, { startingPrice: '1.00', minIncrement: '0.01' });
    // Distinct amounts in shuffled order, so some bids win and some arrive too low.
    const amounts = Array.from({ length: BIDDERS }, (_, i) => 100 + i);
    for (let i = amounts.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [amounts[i], amounts[j]] = [amounts[j]!, amounts[i]!];
    }
    const answers = await Promise.all(
      amounts.map((cents, i) => bid(api.url, item, `bidder${i}`, (cents / 100).toFixed(2))),
    );

    for (const a of answers) {
      expect([201, 409]).toContain(a.status);
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
    const view = await http(api.url, 'GET', `/api/v1/items/${item}`);
    expect(view.body.bidCount).toBe(accepted.length);
    expect(view.body.highestBid).toMatchObject({ amountCents: maxAccepted, seq: accepted.length });

    const published = await waitFor(
      async () => {
        const events = (await readStream(names.topology)).filter((e) => e.type === 'bid.accepted');
        return events.length >= accepted.length ? events : null;
      },
      { timeoutMs: 30_000, what: 'bid events in JetStream' },
    );
    await waitFor(async () => (await probe.redis.xlen(probe.keys.outbox)) === 0, { what: 'outbox to drain' });
    const again = (await readStream(names.topology)).filter((e) => e.type === 'bid.accepted');
    expect(again).toHaveLength(accepted.length);
    const fromStream = published
      .map((e) => (e.type === 'bid.accepted' ? `${e.seq}:${e.userId}:${e.amountCents}` : ''))
      .sort();
    const fromAnswers = accepted.map((b) => `${b.seq}:${b.userId}:${b.amountCents}`).sort();
    expect(fromStream).toEqual(fromAnswers);
  }, 180_000);
});

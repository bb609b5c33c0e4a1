import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEvent } from '@gavel/shared';
import { waitFor } from '@gavel/shared/testing';
import { TestWorld, call, connected, range, recordBids, sio } from './helpers.js';

describe('item feeds on one replica', () => {
  const world = new TestWorld();
  let url = '';

  beforeAll(async () => {
    ({ url } = await world.startInProcess());
  });
  afterAll(() => world.close());

  it('replays stored bids after afterSeq, then goes live with no gap or duplicate at the seam', async () => {
    const itemId = 'seam';
    for (const seq of range(1, 10)) await world.publishBid(itemId, seq);
    const socket = sio(url, { auth: { token: await world.token('alice') } });
    await connected(socket);
    const seqs = recordBids(socket);
    const ack = await call<{ ok: boolean; lastSeq: number }>(socket, 'item:watch', { itemId, afterSeq: 4 });
    expect(ack).toMatchObject({ ok: true, lastSeq: 10 });
    for (const seq of range(11, 20)) await world.publishBid(itemId, seq);
    await waitFor(() => seqs.length >= 16, { what: 'bids 5..20' });
    expect(seqs).toEqual(range(5, 20));
    socket.close();
  });

  it('puts out-of-order and duplicated stream events back into seq order, once each', async () => {
    const itemId = 'shuffled';
    const socket = sio(url, { auth: { token: await world.token('bob') } });
    await connected(socket);
    const seqs = recordBids(socket);
    const full: Array<{ itemId: string; bid: { seq: number; amount: number } }> = [];
    socket.on('bid', (b: { itemId: string; seq: number; amountCents: number }) =>
      full.push({ itemId: b.itemId, bid: { seq: b.seq, amount: b.amountCents } }),
    );
    await call(socket, 'item:watch', { itemId });
    for (const seq of [1, 3, 2, 2, 5, 4, 1, 6]) {
      // Same seq twice with different event ids: an api replica retrying its outbox.
      await world.publish(
        makeEvent('bid.accepted', { itemId, seq, userId: 'x', amountCents: 1000 + seq * 100 }),
      );
    }
    await waitFor(() => seqs.length >= 6, { what: '6 bids' });
    await new Promise((r) => setTimeout(r, 300));
    expect(seqs).toEqual(range(1, 6));
    expect(full.every((f) => f.itemId === itemId && f.bid.amount === 1000 + f.bid.seq * 100)).toBe(true);
    socket.close();
  });

  it('fills a gap from the stream when a bid never arrives live', async () => {
    const itemId = 'gap';
    const socket = sio(url, { auth: { token: await world.token('carol') } });
    await connected(socket);
    const seqs = recordBids(socket);
    await call(socket, 'item:watch', { itemId });
    await world.publishBid(itemId, 1);
    await waitFor(() => seqs.length === 1);
    await world.publishBid(itemId, 3);
    await new Promise((r) => setTimeout(r, 50));
    expect(seqs).toEqual([1]);
    await world.publishBid(itemId, 2);
    await waitFor(() => seqs.length === 3, { what: 'bids 2 and 3' });
    expect(seqs).toEqual([1, 2, 3]);
    socket.close();
  });

  it('sends item:extended and item:closed to watchers, and item:closed to late watchers', async () => {
    const itemId = 'closing';
    const socket = sio(url, { auth: { token: await world.token('dave') } });
    await connected(socket);
    const events: string[] = [];
    socket.on('item:extended', () => events.push('extended'));
    socket.on('item:closed', (e: { winner: { userId: string } }) => events.push(`closed:${e.winner.userId}`));
    await call(socket, 'item:watch', { itemId });
    await world.publishBid(itemId, 1, 'erin');
    const endsAt = new Date(Date.now() + 60_000).toISOString();
    await world.publish(makeEvent('item.extended', { itemId, seq: 1, endsAt }));
    await world.publish(
      makeEvent('item.closed', {
        itemId,
        bidCount: 1,
        winner: { userId: 'erin', amountCents: 1100, seq: 1 },
      }),
    );
    await waitFor(() => events.length === 2, { what: 'item events' });
    expect(events).toEqual(['extended', 'closed:erin']);
    const late = sio(url, { auth: { token: await world.token('frank') } });
    await connected(late);
    const lateClosed: unknown[] = [];
    late.on('item:closed', (e: unknown) => lateClosed.push(e));
    const lateBids = recordBids(late);
    await call(late, 'item:watch', { itemId });
    await waitFor(() => lateClosed.length === 1, { what: 'item:closed for a late watcher' });
    expect(lateBids).toEqual([1]);
    socket.close();
    late.close();
  });

  it('stops sending after item:unwatch', async () => {
    const itemId = 'unwatched';
    const socket = sio(url, { auth: { token: await world.token('gina') } });
    await connected(socket);
    const seqs = recordBids(socket);
    await call(socket, 'item:watch', { itemId });
    await world.publishBid(itemId, 1);
    await waitFor(() => seqs.length === 1);
    expect(await call(socket, 'item:unwatch', { itemId })).toMatchObject({ ok: true });
    await world.publishBid(itemId, 2);
    const other = sio(url, { auth: { token: await world.token('hank') } });
    await connected(other);
    const otherSeqs = recordBids(other);
    await call(other, 'item:watch', { itemId });
    await waitFor(() => otherSeqs.length === 2);
    expect(seqs).toEqual([1]);
    socket.close();
    other.close();
  });
});

describe('item feeds with a short in-memory history', () => {
  const world = new TestWorld();
  let url = '';

  // FEED_HISTORY=10 keeps 10 to 20 bids in memory, so older replays must come from JetStream.
  beforeAll(async () => {
    ({ url } = await world.startInProcess({ FEED_HISTORY: '10' }));
  });
  afterAll(() => world.close());

  it('replays bids older than the in-memory history from the stream, in order, then goes live', async () => {
    const itemId = 'long_auction';
    const early = sio(url, { auth: { token: await world.token('ivan') } });
    await connected(early);
    const earlySeqs = recordBids(early);
    // A live watcher makes the feed keep advancing (and trimming) as the bids arrive.
    await call(early, 'item:watch', { itemId });
    for (const seq of range(1, 45)) await world.publishBid(itemId, seq);
    await waitFor(() => earlySeqs.length === 45, { what: 'bids 1..45 at the early watcher' });

    const late = sio(url, { auth: { token: await world.token('judy') } });
    await connected(late);
    const lateSeqs = recordBids(late);
    const ack = await call<{ ok: boolean; lastSeq: number }>(late, 'item:watch', { itemId, afterSeq: 2 });
    expect(ack).toMatchObject({ ok: true, lastSeq: 45 });
    for (const seq of range(46, 50)) await world.publishBid(itemId, seq);
    await waitFor(() => lateSeqs.length >= 48, { what: 'bids 3..50 at the late watcher' });
    expect(lateSeqs).toEqual(range(3, 50));
    expect(earlySeqs).toEqual(range(1, 50));
    early.close();
    late.close();
  });
});

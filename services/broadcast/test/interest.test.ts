import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { encodeEvent, makeEvent, subjects } from '@gavel/shared';
import { uniqueId, waitFor } from '@gavel/shared/testing';
import { TestWorld, call, connected, metric, range, recordBids, sio } from './helpers.js';

/**
 * The scaling property: a replica's work follows its own clients' interests, not the system's
 * traffic. Counted with the replica's own metrics: events received live from NATS by type, and
 * every message its NATS connection received at all.
 */
describe('each replica subscribes only to what its clients want', () => {
  const world = new TestWorld();
  let x = ''; // clients here watch item X and sit in room Q
  let y = ''; // clients here watch item Y and sit in room R
  const sockets: Socket[] = [];
  const open = async (url: string, userId: string) => {
    const s = sio(url, { auth: { token: await world.token(userId) } });
    sockets.push(s);
    await connected(s);
    return s;
  };
  const natsIn = (url: string) => metric(url, 'gavel_broadcast_nats_messages_received_total');
  const bidsIn = (url: string) =>
    metric(url, 'gavel_broadcast_events_received_total', { source: 'nats', type: 'bid.accepted' });
  const chatIn = (url: string) =>
    metric(url, 'gavel_broadcast_events_received_total', { source: 'nats', type: 'chat.message' });

  beforeAll(async () => {
    const extra = { CHAT_RATE_PER_S: '1000', EVENT_RATE_PER_S: '5000', FEED_LINGER_MS: '300' };
    ({ url: x } = await world.startInProcess({ ...extra, REPLICA_ID: 'watches-x' }));
    ({ url: y } = await world.startInProcess({ ...extra, REPLICA_ID: 'watches-y' }));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await world.close();
  });

  it('a replica whose clients watch item X does no per-event work for 10,000 bids on item Y', async () => {
    const onX = await open(x, 'x_watcher');
    const xBids = recordBids(onX);
    expect(await call(onX, 'item:watch', { itemId: 'item_x' })).toMatchObject({ ok: true });
    const onY = await open(y, 'y_watcher');
    const yBids = recordBids(onY);
    expect(await call(onY, 'item:watch', { itemId: 'item_y' })).toMatchObject({ ok: true });

    const natsBefore = await natsIn(x);
    const bidsBefore = await bidsIn(x);
    const js = await world.js();
    const subject = subjects(world.topology).bidAccepted('item_y');
    const total = 10_000;
    // Published in parallel windows: the stream, not the client, should be the limit.
    for (let from = 1; from <= total; from += 250) {
      await Promise.all(
        range(from, Math.min(from + 249, total)).map((seq) => {
          const e = makeEvent('bid.accepted', { itemId: 'item_y', seq, userId: 'b', amountCents: 100 + seq });
          return js.publish(subject, encodeEvent(e), { msgID: e.id });
        }),
      );
    }
    await waitFor(() => yBids.length === total, { timeoutMs: 60_000, what: '10,000 bids at the Y watcher' });
    expect(yBids).toEqual(range(1, total));
    expect(await bidsIn(y)).toBeGreaterThanOrEqual(total);

    // Then one bid on X: the X replica is live and hears exactly that one.
    await world.publishBid('item_x', 1);
    await waitFor(() => xBids.length === 1, { what: 'the X bid' });
    expect(await bidsIn(x)).toBe(bidsBefore + 1);
    // Its NATS connection saw a handful of messages (the X bid, pings), not 10,000.
    const natsDelta = (await natsIn(x)) - natsBefore;
    console.log(`replica watching X: ${natsDelta} NATS messages received while 10,000 bids went to Y`);
    expect(natsDelta).toBeLessThan(20);
  }, 120_000);

  it('a replica with no members of room R receives none of R’s chat', async () => {
    const member = await open(y, 'r_member');
    await call(member, 'room:join', { roomId: 'room_r' });
    const other = await open(x, 'q_member');
    await call(other, 'room:join', { roomId: 'room_q' });
    const heard: string[] = [];
    member.on('chat', (m: { text: string }) => heard.push(m.text));
    const before = { x: await chatIn(x), natsX: await natsIn(x) };
    // A sender on the X replica that is not a member either: publish straight to the stream.
    const js = await world.js();
    for (const n of range(1, 50)) {
      const e = makeEvent('chat.message', {
        roomId: 'room_r',
        userId: 'someone',
        text: `r${n}`,
        clientMsgId: uniqueId('c'),
      });
      await js.publish(subjects(world.topology).chat('room_r'), encodeEvent(e), { msgID: e.id });
    }
    await waitFor(() => heard.length === 50, { what: 'R’s chat at its member' });
    expect(await chatIn(x)).toBe(before.x);
    expect((await natsIn(x)) - before.natsX).toBeLessThan(10);
    expect(await chatIn(y)).toBeGreaterThanOrEqual(50);
  });

  it('drops a subscription after the linger once the last local client leaves, and opens it again on demand', async () => {
    const s = await open(x, 'linger_user');
    await call(s, 'item:watch', { itemId: 'item_z' });
    const subscribed = await metric(x, 'gavel_broadcast_live_subscriptions');
    await call(s, 'item:unwatch', { itemId: 'item_z' });
    await waitFor(async () => (await metric(x, 'gavel_broadcast_live_subscriptions')) === subscribed - 2, {
      what: 'the item subscriptions closed after the linger',
    });
    const before = await bidsIn(x);
    for (const seq of range(1, 20)) await world.publishBid('item_z', seq);
    const seqs = recordBids(s);
    // Watching again reads the stored bids, then goes live.
    expect(await call(s, 'item:watch', { itemId: 'item_z', afterSeq: 10 })).toMatchObject({
      ok: true,
      lastSeq: 20,
    });
    await waitFor(() => seqs.length === 10);
    expect(seqs).toEqual(range(11, 20));
    expect(await bidsIn(x)).toBe(before);
    await world.publishBid('item_z', 21);
    await waitFor(() => seqs.length === 11);
    expect(await bidsIn(x)).toBe(before + 1);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { AckPolicy } from 'nats';
import { makeEvent } from '@gavel/shared';
import { migrate } from '../src/migrate.js';
import { applyEvents, writeEvents } from '../src/archive-repository.js';
import { createSandbox, startWorker, waitFor, type Sandbox } from './helper.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sandbox(): Promise<Sandbox> {
  const s = await createSandbox();
  cleanups.push(() => s.close());
  return s;
}

async function worker(s: Sandbox, env: Record<string, string> = {}) {
  const w = await startWorker(s, env);
  cleanups.push(() => w.stop());
  return w;
}

const hourFromNow = () => new Date(Date.now() + 3600_000).toISOString();

describe('archival worker', () => {
  it('writes every event type to its table', async () => {
    const s = await sandbox();
    const w = await worker(s);
    const endsAt = hourFromNow();
    const later = new Date(Date.now() + 2 * 3600_000).toISOString();
    const events = [
      makeEvent('item.opened', {
        itemId: 'lamp',
        title: 'Brass lamp',
        startingPriceCents: 1000,
        minIncrementCents: 100,
        endsAt,
      }),
      makeEvent('bid.accepted', { itemId: 'lamp', seq: 1, userId: 'ann', amountCents: 1000 }),
      makeEvent('bid.accepted', { itemId: 'lamp', seq: 2, userId: 'bob', amountCents: 1250 }),
      makeEvent('item.extended', { itemId: 'lamp', seq: 2, endsAt: later }),
      makeEvent('item.closed', {
        itemId: 'lamp',
        bidCount: 2,
        winner: { userId: 'bob', amountCents: 1250, seq: 2 },
      }),
      makeEvent('chat.message', { roomId: 'lobby', userId: 'ann', text: 'hi there', clientMsgId: 'c1' }),
      makeEvent('dm.message', { from: 'ann', to: 'bob', text: 'psst', clientMsgId: 'd1' }),
    ];
    for (const e of events) await s.publish(e);

    await waitFor(async () => (await w.metric('gavel_archival_messages_acked_total')) === events.length, {
      timeoutMs: 20_000,
      what: 'all events acked',
    });
    const bids = await s.pool.query(
      'SELECT item_id, seq, user_id, amount_cents, event_id FROM bids ORDER BY seq',
    );
    expect(bids.rows).toEqual([
      { item_id: 'lamp', seq: 1, user_id: 'ann', amount_cents: '1000', event_id: events[1]!.id },
      { item_id: 'lamp', seq: 2, user_id: 'bob', amount_cents: '1250', event_id: events[2]!.id },
    ]);
    const item = await s.pool.query('SELECT * FROM items');
    expect(item.rows).toHaveLength(1);
    expect(item.rows[0]).toMatchObject({
      id: 'lamp',
      title: 'Brass lamp',
      starting_price_cents: '1000',
      min_increment_cents: '100',
      status: 'closed',
    });
    expect((item.rows[0].ends_at as Date).toISOString()).toBe(later);
    expect((item.rows[0].closed_at as Date).toISOString()).toBe(events[4]!.at);
    const result = await s.pool.query('SELECT * FROM auction_results');
    expect(result.rows).toEqual([
      expect.objectContaining({
        item_id: 'lamp',
        winner_user_id: 'bob',
        amount_cents: '1250',
        winning_seq: 2,
        bid_count: 2,
        event_id: events[4]!.id,
      }),
    ]);
    const chat = await s.pool.query('SELECT id, room_id, user_id, text, client_msg_id FROM chat_messages');
    expect(chat.rows).toEqual([
      { id: events[5]!.id, room_id: 'lobby', user_id: 'ann', text: 'hi there', client_msg_id: 'c1' },
    ]);
    const dm = await s.pool.query('SELECT id, from_user, to_user, text FROM direct_messages');
    expect(dm.rows).toEqual([{ id: events[6]!.id, from_user: 'ann', to_user: 'bob', text: 'psst' }]);
    expect(await w.metric('gavel_archival_rows_written_total', { table: 'bids' })).toBe(2);
    expect(await w.metric('gavel_archival_dead_lettered_total')).toBe(0);
  });

  it('acknowledges realtime-only events (presence, DM copies and receipts, notices) and archives none', async () => {
    const s = await sandbox();
    const w = await worker(s);
    const dm = makeEvent('dm.message', { from: 'ann', to: 'bob', text: 'psst', clientMsgId: 'd1' });
    const events = [
      makeEvent('presence.changed', { roomId: 'lobby', userId: 'ann', state: 'join' }),
      dm,
      makeEvent('dm.sent', { dmId: dm.id, from: 'ann', to: 'bob', text: 'psst', clientMsgId: 'd1' }),
      makeEvent('notify.dm', { dmId: dm.id, from: 'ann', to: 'bob', preview: 'psst' }),
      makeEvent('dm.delivered', { dmId: dm.id, from: 'ann', to: 'bob' }),
      makeEvent('dm.read', { dmId: dm.id, from: 'ann', to: 'bob' }),
      makeEvent('chat.message', { roomId: 'lobby', userId: 'ann', text: 'after them', clientMsgId: 'c1' }),
    ];
    for (const e of events) await s.publish(e);
    await waitFor(async () => (await w.metric('gavel_archival_messages_acked_total')) === events.length, {
      timeoutMs: 20_000,
      what: 'all events acked',
    });
    expect(await s.count('direct_messages')).toBe(1);
    expect(await s.count('chat_messages')).toBe(1);
    expect(await s.count('items')).toBe(0);
    expect(await w.metric('gavel_archival_dead_lettered_total')).toBe(0);
  });

  it('never writes a second row for a duplicated or redelivered event', async () => {
    const s = await sandbox();
    const bid = makeEvent('bid.accepted', { itemId: 'vase', seq: 1, userId: 'ann', amountCents: 500 });
    const chat = makeEvent('chat.message', { roomId: 'r1', userId: 'ann', text: 'once', clientMsgId: 'c' });
    const dm = makeEvent('dm.message', { from: 'ann', to: 'bob', text: 'once', clientMsgId: 'd' });
    const closed = makeEvent('item.closed', { itemId: 'vase', bidCount: 1, winner: null });
    // Same events under other Nats-Msg-Ids: the stream's deduplication does not catch these.
    for (const e of [bid, chat, dm, closed]) {
      await s.publish(e);
      await s.publish(e, `${e.id}-again`);
    }
    // A batch that committed but whose acks were lost: the rows exist already.
    await migrate(s.db.url);
    const client = await s.pool.connect();
    await writeEvents(client, [bid, chat, dm, closed]);
    client.release();
    // And a delivery that was never acked, so the worker gets every message as a redelivery too.
    const jsm = await s.nc.jetstreamManager();
    await jsm.consumers.add(s.topology.stream, {
      durable_name: 'archival',
      ack_policy: AckPolicy.Explicit,
      filter_subject: `${s.topology.prefix}.>`,
      ack_wait: 1_000_000_000,
    });
    const consumer = await s.js.consumers.get(s.topology.stream, 'archival');
    const unacked = await consumer.fetch({ max_messages: 8, expires: 2000 });
    let fetched = 0;
    for await (const m of unacked) {
      expect(m.info.deliveryCount).toBe(1);
      fetched += 1;
    }
    expect(fetched).toBe(8);

    const w = await worker(s, { ACK_WAIT_MS: '1000' });
    await waitFor(async () => (await w.metric('gavel_archival_messages_acked_total')) === 8, {
      timeoutMs: 20_000,
      what: '8 acks',
    });
    expect(await s.count('bids')).toBe(1);
    expect(await s.count('chat_messages')).toBe(1);
    expect(await s.count('direct_messages')).toBe(1);
    expect(await s.count('auction_results')).toBe(1);
    expect(await w.metric('gavel_archival_rows_written_total', { table: 'bids' })).toBe(0);
    const info = await jsm.consumers.info(s.topology.stream, 'archival');
    expect(info.num_pending + info.num_ack_pending).toBe(0);
  });

  it('stores events that arrive out of order', async () => {
    const s = await sandbox();
    const w = await worker(s);
    const endsAt = hourFromNow();
    const extendedTo = new Date(Date.parse(endsAt) + 60_000).toISOString();
    // Bid, extension and close all before the item is opened.
    const early = [
      makeEvent('bid.accepted', { itemId: 'clock', seq: 2, userId: 'bob', amountCents: 900 }),
      makeEvent('item.extended', { itemId: 'clock', seq: 2, endsAt: extendedTo }),
      makeEvent('bid.accepted', { itemId: 'clock', seq: 1, userId: 'ann', amountCents: 800 }),
      makeEvent('item.extended', { itemId: 'desk', seq: 1, endsAt: extendedTo }),
      makeEvent('item.closed', { itemId: 'desk', bidCount: 0, winner: null }),
    ];
    for (const e of early) await s.publish(e);
    await waitFor(async () => (await w.metric('gavel_archival_messages_acked_total')) === early.length, {
      timeoutMs: 20_000,
      what: 'early events acked',
    });
    expect(await s.count('bids', "item_id = 'clock'")).toBe(2);
    expect(await s.count('items')).toBe(0);

    const opened = (itemId: string) =>
      makeEvent('item.opened', {
        itemId,
        title: itemId,
        startingPriceCents: 100,
        minIncrementCents: 10,
        endsAt,
      });
    await s.publish(opened('clock'));
    await s.publish(opened('desk'));
    await waitFor(async () => (await s.count('items')) === 2, { timeoutMs: 20_000, what: 'items' });
    const items = await s.pool.query('SELECT id, status, ends_at, closed_at FROM items ORDER BY id');
    // The extension that came first still moves ends_at forward; the early close still closes.
    expect(
      items.rows.map((r) => [r.id, r.status, (r.ends_at as Date).toISOString(), r.closed_at !== null]),
    ).toEqual([
      ['clock', 'open', extendedTo, false],
      ['desk', 'closed', extendedTo, true],
    ]);

    // An older extension arriving last never moves ends_at back.
    await s.publish(makeEvent('item.extended', { itemId: 'clock', seq: 1, endsAt }));
    await waitFor(async () => (await w.metric('gavel_archival_messages_acked_total')) === early.length + 3, {
      timeoutMs: 20_000,
      what: 'late extension acked',
    });
    const clock = await s.pool.query("SELECT ends_at FROM items WHERE id = 'clock'");
    expect((clock.rows[0].ends_at as Date).toISOString()).toBe(extendedTo);
  });
});

describe('concurrent writers', () => {
  it('an item.opened waits for an uncommitted item.extended of the same item, so neither is lost', async () => {
    const s = await sandbox();
    await migrate(s.db.url);
    const endsAt = hourFromNow();
    const extendedTo = new Date(Date.parse(endsAt) + 30_000).toISOString();
    const [a, b] = [await s.pool.connect(), await s.pool.connect()];
    try {
      // Replica A has written the extension (no item row yet) and not committed.
      await a.query('BEGIN');
      await applyEvents(a, [makeEvent('item.extended', { itemId: 'rug', seq: 3, endsAt: extendedTo })]);
      // Replica B opens the item meanwhile.
      const opening = writeEvents(b, [
        makeEvent('item.opened', {
          itemId: 'rug',
          title: 'Rug',
          startingPriceCents: 100,
          minIncrementCents: 10,
          endsAt,
        }),
      ]);
      const blocked = await Promise.race([
        opening.then(() => false),
        waitFor(
          async () =>
            (await s.count(
              'pg_locks',
              "locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )) > 0,
          {
            timeoutMs: 10_000,
            what: 'B to wait for the item lock',
          },
        ).then(() => true),
      ]);
      expect(blocked).toBe(true);
      await a.query('COMMIT');
      await opening;
    } finally {
      a.release();
      b.release();
    }
    const item = await s.pool.query<{ ends_at: Date }>("SELECT ends_at FROM items WHERE id = 'rug'");
    expect(item.rows[0]?.ends_at.toISOString()).toBe(extendedTo);
  });
});

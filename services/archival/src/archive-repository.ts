import type pg from 'pg';
import type {
  BidAccepted,
  ChatMessage,
  DirectMessage,
  GavelEvent,
  ItemClosed,
  ItemExtended,
  ItemOpened,
} from '@gavel/shared';

/** Tables the worker writes, as labels of the rows-written metric. */
export type ArchiveTable =
  'bids' | 'items' | 'item_extensions' | 'auction_results' | 'chat_messages' | 'direct_messages';

export type RowCounts = Partial<Record<ArchiveTable, number>>;

/**
 * Writes events to PostgreSQL in one transaction. Every insert is idempotent (keyed by event id
 * or (item_id, seq)), so a redelivered or duplicated event changes nothing, and no insert
 * depends on another event having arrived first.
 */
export async function writeEvents(client: pg.ClientBase, events: readonly GavelEvent[]): Promise<RowCounts> {
  await client.query('BEGIN');
  try {
    const counts = await applyEvents(client, events);
    await client.query('COMMIT');
    return counts;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The statements of writeEvents, inside a transaction the caller opened. */
export async function applyEvents(client: pg.ClientBase, events: readonly GavelEvent[]): Promise<RowCounts> {
  const counts: RowCounts = {};
  const add = (table: ArchiveTable, n: number | null) => {
    counts[table] = (counts[table] ?? 0) + (n ?? 0);
  };
  const bids: BidAccepted[] = [];
  const chats: ChatMessage[] = [];
  const dms: DirectMessage[] = [];
  const itemEvents: Array<ItemOpened | ItemExtended | ItemClosed> = [];
  for (const event of events) {
    switch (event.type) {
      case 'bid.accepted':
        bids.push(event);
        break;
      case 'chat.message':
        chats.push(event);
        break;
      case 'dm.message':
        dms.push(event);
        break;
      default:
        itemEvents.push(event);
    }
  }

  if (bids.length > 0) add('bids', await insertBids(client, bids));
  if (chats.length > 0) add('chat_messages', await insertChats(client, chats));
  if (dms.length > 0) add('direct_messages', await insertDirectMessages(client, dms));
  if (itemEvents.length > 0)
    await lockItems(
      client,
      itemEvents.map((e) => e.itemId),
    );
  // Item lifecycle events are rare; applied one by one, in arrival order.
  for (const event of itemEvents) {
    if (event.type === 'item.opened') add('items', await upsertItem(client, event));
    else if (event.type === 'item.extended') {
      const [ext, item] = await extendItem(client, event);
      add('item_extensions', ext);
      add('items', item);
    } else {
      const [result, item] = await closeItem(client, event);
      add('auction_results', result);
      add('items', item);
    }
  }
  return counts;
}

/** Namespace of the per-item advisory locks (first key of pg_advisory_xact_lock(int, int)). */
const ITEM_LOCK_SPACE = 0x6761_7665; // "gave"

/**
 * Serialises writers (batches of other replicas) that touch the same item: without it, an
 * item.opened and an item.extended committed concurrently could each miss the other's row, and
 * the extension would be lost. Locks are taken in one sorted order, so two batches never
 * deadlock; they are released at COMMIT.
 */
async function lockItems(client: pg.ClientBase, itemIds: readonly string[]): Promise<void> {
  await client.query(
    `SELECT pg_advisory_xact_lock($1, k)
     FROM (SELECT DISTINCT hashtext(id) AS k FROM unnest($2::text[]) AS id) AS keys
     ORDER BY k`,
    [ITEM_LOCK_SPACE, [...new Set(itemIds)]],
  );
}

// One multi-row INSERT per table from parallel arrays: one round trip whatever the batch size.
async function insertBids(client: pg.ClientBase, bids: readonly BidAccepted[]): Promise<number | null> {
  const res = await client.query(
    `INSERT INTO bids (item_id, seq, user_id, amount_cents, accepted_at, event_id)
     SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::bigint[], $5::timestamptz[], $6::text[])
     ON CONFLICT DO NOTHING`,
    [
      bids.map((b) => b.itemId),
      bids.map((b) => b.seq),
      bids.map((b) => b.userId),
      bids.map((b) => b.amountCents),
      bids.map((b) => b.at),
      bids.map((b) => b.id),
    ],
  );
  return res.rowCount;
}

async function insertChats(client: pg.ClientBase, chats: readonly ChatMessage[]): Promise<number | null> {
  const res = await client.query(
    `INSERT INTO chat_messages (id, room_id, user_id, text, client_msg_id, sent_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
     ON CONFLICT DO NOTHING`,
    [
      chats.map((c) => c.id),
      chats.map((c) => c.roomId),
      chats.map((c) => c.userId),
      chats.map((c) => c.text),
      chats.map((c) => c.clientMsgId),
      chats.map((c) => c.at),
    ],
  );
  return res.rowCount;
}

async function insertDirectMessages(
  client: pg.ClientBase,
  dms: readonly DirectMessage[],
): Promise<number | null> {
  const res = await client.query(
    `INSERT INTO direct_messages (id, from_user, to_user, text, client_msg_id, sent_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
     ON CONFLICT DO NOTHING`,
    [
      dms.map((d) => d.id),
      dms.map((d) => d.from),
      dms.map((d) => d.to),
      dms.map((d) => d.text),
      dms.map((d) => d.clientMsgId),
      dms.map((d) => d.at),
    ],
  );
  return res.rowCount;
}

/**
 * Creates the item, folding in whatever arrived before it: a later end from item_extensions and
 * the closed state from auction_results. ends_at only ever moves forward.
 */
async function upsertItem(client: pg.ClientBase, e: ItemOpened): Promise<number | null> {
  const res = await client.query(
    `INSERT INTO items AS i (id, title, starting_price_cents, min_increment_cents, ends_at, status, opened_at, closed_at)
     SELECT $1, $2, $3, $4,
            GREATEST($5::timestamptz, (SELECT max(x.ends_at) FROM item_extensions x WHERE x.item_id = $1)),
            CASE WHEN r.item_id IS NULL THEN 'open' ELSE 'closed' END,
            $6, r.closed_at
     FROM (SELECT 1) AS one LEFT JOIN auction_results r ON r.item_id = $1
     ON CONFLICT (id) DO UPDATE SET
       title = EXCLUDED.title,
       starting_price_cents = EXCLUDED.starting_price_cents,
       min_increment_cents = EXCLUDED.min_increment_cents,
       ends_at = GREATEST(i.ends_at, EXCLUDED.ends_at)
     WHERE (i.title, i.starting_price_cents, i.min_increment_cents)
             IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.starting_price_cents, EXCLUDED.min_increment_cents)
        OR i.ends_at < EXCLUDED.ends_at`,
    [e.itemId, e.title, e.startingPriceCents, e.minIncrementCents, e.endsAt, e.at],
  );
  return res.rowCount;
}

async function extendItem(client: pg.ClientBase, e: ItemExtended): Promise<[number | null, number | null]> {
  const ext = await client.query(
    `INSERT INTO item_extensions (event_id, item_id, seq, ends_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`,
    [e.id, e.itemId, e.seq, e.endsAt],
  );
  const item = await client.query(`UPDATE items SET ends_at = $2 WHERE id = $1 AND ends_at < $2`, [
    e.itemId,
    e.endsAt,
  ]);
  return [ext.rowCount, item.rowCount];
}

async function closeItem(client: pg.ClientBase, e: ItemClosed): Promise<[number | null, number | null]> {
  const result = await client.query(
    `INSERT INTO auction_results (item_id, winner_user_id, amount_cents, winning_seq, bid_count, closed_at, event_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT DO NOTHING`,
    [
      e.itemId,
      e.winner?.userId ?? null,
      e.winner?.amountCents ?? null,
      e.winner?.seq ?? null,
      e.bidCount,
      e.at,
      e.id,
    ],
  );
  const item = await client.query(
    `UPDATE items SET status = 'closed', closed_at = $2 WHERE id = $1 AND status <> 'closed'`,
    [e.itemId, e.at],
  );
  return [result.rowCount, item.rowCount];
}

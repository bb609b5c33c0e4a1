import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
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
 * Writes events to PostgreSQL atomically: when this returns, all of them are committed. Every
 * write is idempotent (keyed by event id or (item_id, seq)), so a redelivered or duplicated
 * event changes nothing, and no insert depends on another event having arrived first.
 *
 * Bids and messages are appended with COPY, PostgreSQL's fastest way in. A duplicate makes
 * COPY fail on the table's unique keys without writing anything (a unique violation, never a
 * second row), and the batch is then written again with `INSERT ... ON CONFLICT DO NOTHING`,
 * which skips what is stored already. Duplicates are rare (a redelivery after a crash, a
 * republished event), so almost every batch costs one COPY per table.
 */
export async function writeEvents(client: pg.ClientBase, events: readonly GavelEvent[]): Promise<RowCounts> {
  const groups = groupByTable(events);
  try {
    return await atomically(client, statementCount(groups) > 1, () => copyGroups(client, groups));
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
  return atomically(client, true, () => applyGroups(client, groups));
}

/** The idempotent statements of writeEvents, inside a transaction the caller opened. */
export async function applyEvents(client: pg.ClientBase, events: readonly GavelEvent[]): Promise<RowCounts> {
  return applyGroups(client, groupByTable(events));
}

interface Groups {
  readonly bids: BidAccepted[];
  readonly chats: ChatMessage[];
  readonly dms: DirectMessage[];
  readonly itemEvents: Array<ItemOpened | ItemExtended | ItemClosed>;
}

function groupByTable(events: readonly GavelEvent[]): Groups {
  const groups: Groups = { bids: [], chats: [], dms: [], itemEvents: [] };
  for (const event of events) {
    switch (event.type) {
      case 'bid.accepted':
        groups.bids.push(event);
        break;
      case 'chat.message':
        groups.chats.push(event);
        break;
      case 'dm.message':
        groups.dms.push(event);
        break;
      case 'item.opened':
      case 'item.extended':
      case 'item.closed':
        groups.itemEvents.push(event);
        break;
      default:
        // Realtime-only events (presence changes, DM copies and receipts, offline notices) are
        // acknowledged and not archived.
        break;
    }
  }
  return groups;
}

function statementCount(g: Groups): number {
  return [g.bids, g.chats, g.dms].filter((rows) => rows.length > 0).length + 2 * g.itemEvents.length;
}

/**
 * Runs `work` in a transaction, or, when it is a single statement, on its own: PostgreSQL
 * commits a lone statement by itself, which saves two round trips.
 */
async function atomically<T>(
  client: pg.ClientBase,
  transaction: boolean,
  work: () => Promise<T>,
): Promise<T> {
  if (!transaction) return work();
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

class Counts {
  readonly rows: RowCounts = {};
  add(table: ArchiveTable, n: number | null): void {
    this.rows[table] = (this.rows[table] ?? 0) + (n ?? 0);
  }
}

/** How rows of one append-only table are written: the fast way, and the idempotent way. */
interface TableWriter<E> {
  readonly table: ArchiveTable;
  readonly copy: CopySpec<E>;
  readonly insert: (client: pg.ClientBase, rows: readonly E[]) => Promise<number | null>;
}

async function copyGroups(client: pg.ClientBase, g: Groups): Promise<RowCounts> {
  return writeGroups(client, g, (w, rows) => copyRows(client, w.copy, rows));
}

async function applyGroups(client: pg.ClientBase, g: Groups): Promise<RowCounts> {
  return writeGroups(client, g, (w, rows) => w.insert(client, rows));
}

async function writeGroups(
  client: pg.ClientBase,
  g: Groups,
  write: <E>(writer: TableWriter<E>, rows: readonly E[]) => Promise<number | null>,
): Promise<RowCounts> {
  const counts = new Counts();
  const put = async <E>(writer: TableWriter<E>, rows: readonly E[]) => {
    if (rows.length > 0) counts.add(writer.table, await write(writer, rows));
  };
  await put(BIDS, g.bids);
  await put(CHATS, g.chats);
  await put(DIRECT_MESSAGES, g.dms);
  await applyItemEvents(client, g.itemEvents, counts);
  return counts.rows;
}

async function applyItemEvents(
  client: pg.ClientBase,
  itemEvents: ReadonlyArray<ItemOpened | ItemExtended | ItemClosed>,
  counts: Counts,
): Promise<void> {
  if (itemEvents.length === 0) return;
  await lockItems(
    client,
    itemEvents.map((e) => e.itemId),
  );
  // Item lifecycle events are rare; applied one by one, in arrival order.
  for (const event of itemEvents) {
    if (event.type === 'item.opened') counts.add('items', await upsertItem(client, event));
    else if (event.type === 'item.extended') {
      const [ext, item] = await extendItem(client, event);
      counts.add('item_extensions', ext);
      counts.add('items', item);
    } else {
      const [result, item] = await closeItem(client, event);
      counts.add('auction_results', result);
      counts.add('items', item);
    }
  }
}

/** A COPY statement and how one event becomes one line of its text format. */
interface CopySpec<E> {
  readonly sql: string;
  readonly line: (event: E) => string;
}

const BIDS: TableWriter<BidAccepted> = {
  table: 'bids',
  insert: insertBids,
  copy: {
    sql: 'COPY bids (item_id, seq, user_id, amount_cents, accepted_at, event_id) FROM STDIN',
    line: (b) =>
      `${copyText(b.itemId)}\t${b.seq}\t${copyText(b.userId)}\t${b.amountCents}\t${copyText(b.at)}\t${copyText(b.id)}\n`,
  },
};

const CHATS: TableWriter<ChatMessage> = {
  table: 'chat_messages',
  insert: insertChats,
  copy: {
    sql: 'COPY chat_messages (id, room_id, user_id, text, client_msg_id, sent_at) FROM STDIN',
    line: (c) =>
      `${copyText(c.id)}\t${copyText(c.roomId)}\t${copyText(c.userId)}\t${copyText(c.text)}\t${copyText(c.clientMsgId)}\t${copyText(c.at)}\n`,
  },
};

const DIRECT_MESSAGES: TableWriter<DirectMessage> = {
  table: 'direct_messages',
  insert: insertDirectMessages,
  copy: {
    sql: 'COPY direct_messages (id, from_user, to_user, text, client_msg_id, sent_at) FROM STDIN',
    line: (d) =>
      `${copyText(d.id)}\t${copyText(d.from)}\t${copyText(d.to)}\t${copyText(d.text)}\t${copyText(d.clientMsgId)}\t${copyText(d.at)}\n`,
  },
};

async function copyRows<E>(client: pg.ClientBase, spec: CopySpec<E>, events: readonly E[]): Promise<number> {
  let text = '';
  for (const event of events) text += spec.line(event);
  const copy = client.query(copyFrom(spec.sql));
  await new Promise<void>((resolve, reject) => {
    copy.on('finish', resolve);
    copy.on('error', reject);
    copy.end(text);
  });
  return copy.rowCount;
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * A value in COPY's text format: backslash, newline, carriage return and tab are escaped (so a
 * text can never end a row or a column early, nor read as `\N`, NULL). A NUL character is left
 * in: PostgreSQL refuses it, as it refuses it in a parameter, and the event is dead-lettered.
 */
function copyText(value: string): string {
  return COPY_SPECIAL.test(value) ? value.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c]!) : value;
}

/** SQLSTATE 23505: a unique key holds the row already. */
function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '23505';
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

// The idempotent path: one multi-row INSERT per table from parallel arrays, one round trip
// whatever the batch size.
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

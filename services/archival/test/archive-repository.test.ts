import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { makeEvent, type GavelEvent } from '@gavel/shared';
import { createTestDatabase, type TestDatabase } from '@gavel/shared/testing';
import { migrate } from '../src/migrate.js';
import { writeEvents } from '../src/archive-repository.js';

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  await migrate(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

async function write(events: readonly GavelEvent[]) {
  const client = await pool.connect();
  try {
    return await writeEvents(client, events);
  } finally {
    client.release();
  }
}

const bid = (itemId: string, seq: number) =>
  makeEvent('bid.accepted', { itemId, seq, userId: 'ann', amountCents: 100 * seq });

describe('writeEvents', () => {
  it('stores texts exactly, whatever characters they hold', async () => {
    const texts = [
      'tab\there',
      'two\nlines',
      'cr\r\nlf',
      'back\\slash',
      '\\N',
      '\\.',
      'ünïcødé 🚀',
      ' padded ',
    ];
    const chats = texts.map((text, i) =>
      makeEvent('chat.message', { roomId: 'texts', userId: 'u', text, clientMsgId: `tab\t${i}` }),
    );
    const dms = texts.map((text, i) =>
      makeEvent('dm.message', { from: 'a', to: 'b', text, clientMsgId: `c\\${i}` }, { id: `dm\n${i}` }),
    );
    expect(await write([...chats, ...dms])).toEqual({
      chat_messages: texts.length,
      direct_messages: texts.length,
    });
    const stored = await pool.query<{ text: string; client_msg_id: string }>(
      `SELECT text, client_msg_id FROM chat_messages WHERE room_id = 'texts' ORDER BY client_msg_id`,
    );
    expect(stored.rows.map((r) => r.text).sort()).toEqual([...texts].sort());
    expect(stored.rows.map((r) => r.client_msg_id)).toEqual(texts.map((_, i) => `tab\t${i}`).sort());
    const storedDms = await pool.query<{ id: string; text: string }>(
      `SELECT id, text FROM direct_messages WHERE from_user = 'a' ORDER BY id`,
    );
    expect(storedDms.rows).toEqual(
      dms.map((d) => ({ id: d.id, text: d.text })).sort((x, y) => (x.id < y.id ? -1 : 1)),
    );
  });

  it('writes only the missing rows of a batch that is partly stored already', async () => {
    const first = [bid('partly', 1), bid('partly', 2), bid('partly', 3)];
    expect(await write(first)).toEqual({ bids: 3 });
    const chat = makeEvent('chat.message', { roomId: 'partly', userId: 'u', text: 'hi', clientMsgId: 'p' });
    // Two already stored (a redelivery), two new, one chat: the COPY fails on the stored ones
    // and the idempotent inserts write the rest.
    const again = [first[1]!, bid('partly', 4), first[2]!, bid('partly', 5), chat];
    expect(await write(again)).toEqual({ bids: 2, chat_messages: 1 });
    const rows = await pool.query<{ seq: number; event_id: string }>(
      `SELECT seq, event_id FROM bids WHERE item_id = 'partly' ORDER BY seq`,
    );
    expect(rows.rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(rows.rows[1]?.event_id).toBe(first[1]!.id);
    expect(await write(again)).toEqual({ bids: 0, chat_messages: 0 });
  });

  it('keeps the first of two bids claiming the same (item, seq)', async () => {
    const original = bid('claimed', 1);
    const rival = makeEvent('bid.accepted', { itemId: 'claimed', seq: 1, userId: 'bob', amountCents: 999 });
    await write([original]);
    expect(await write([rival])).toEqual({ bids: 0 });
    const rows = await pool.query(`SELECT user_id, event_id FROM bids WHERE item_id = 'claimed'`);
    expect(rows.rows).toEqual([{ user_id: 'ann', event_id: original.id }]);
  });

  it('stores overlapping batches written at the same time exactly once', async () => {
    const events = Array.from({ length: 200 }, (_, i) => bid('racing', i + 1));
    const results = await Promise.all([write(events.slice(0, 150)), write(events.slice(50))]);
    expect((results[0].bids ?? 0) + (results[1].bids ?? 0)).toBe(200);
    const rows = await pool.query<{ n: string; seqs: string }>(
      `SELECT count(*) AS n, count(DISTINCT seq) AS seqs FROM bids WHERE item_id = 'racing'`,
    );
    expect(rows.rows[0]).toEqual({ n: '200', seqs: '200' });
  });

  it('refuses a batch holding a value PostgreSQL cannot store, writing none of it', async () => {
    const good = bid('refused', 1);
    const poison = makeEvent('chat.message', {
      roomId: 'r',
      userId: 'u',
      text: 'nul\u0000',
      clientMsgId: 'x',
    });
    await expect(write([good, poison])).rejects.toMatchObject({ code: expect.stringMatching(/^22/) });
    const huge = makeEvent('bid.accepted', { itemId: 'refused', seq: 2 ** 31, userId: 'u', amountCents: 1 });
    await expect(write([huge])).rejects.toMatchObject({ code: expect.stringMatching(/^22/) });
    const rows = await pool.query(`SELECT 1 FROM bids WHERE item_id = 'refused'`);
    expect(rows.rowCount).toBe(0);
    // The connection is fine afterwards.
    expect(await write([good])).toEqual({ bids: 1 });
  });
});

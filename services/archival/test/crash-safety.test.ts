import { afterEach, describe, expect, it } from 'vitest';
import { makeEvent, type GavelEvent } from '@gavel/shared';
import { freePort, spawnService, type ServiceProcess } from '@gavel/shared/testing';
import { createSandbox, waitFor, type Sandbox } from './helper.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const ITEMS = 20;
const BIDS_PER_ITEM = 90;
const CHATS = 200;

function events(): GavelEvent[] {
  const out: GavelEvent[] = [];
  for (let seq = 1; seq <= BIDS_PER_ITEM; seq += 1) {
    for (let i = 0; i < ITEMS; i += 1) {
      out.push(
        makeEvent('bid.accepted', { itemId: `item${i}`, seq, userId: `u${seq % 7}`, amountCents: 100 * seq }),
      );
    }
    if (seq <= CHATS / 10) {
      for (let c = 0; c < 10; c += 1) {
        out.push(
          makeEvent('chat.message', {
            roomId: `room${c}`,
            userId: 'u',
            text: `m${seq}`,
            clientMsgId: `${seq}-${c}`,
          }),
        );
      }
    }
  }
  return out;
}

async function spawnWorker(s: Sandbox): Promise<ServiceProcess> {
  const port = await freePort();
  const service = await spawnService(
    'services/archival/src/main.ts',
    s.env({ PORT: String(port), BATCH_SIZE: '25', ACK_WAIT_MS: '2000' }),
    { port },
  );
  cleanups.push(() => service.kill('SIGKILL'));
  return service;
}

describe('crash safety', { timeout: 120_000 }, () => {
  it('stores every event exactly once when the worker is killed with SIGKILL mid-stream', async () => {
    const s = await createSandbox();
    cleanups.push(() => s.close());
    const all = events();
    expect(all).toHaveLength(ITEMS * BIDS_PER_ITEM + CHATS);
    for (let i = 0; i < all.length; i += 200)
      await Promise.all(all.slice(i, i + 200).map((e) => s.publish(e)));
    const stored = async () => (await s.count('bids')) + (await s.count('chat_messages'));

    const first = await spawnWorker(s);
    // Kill it while it is writing: some batches committed, the rest not yet (or not yet acked).
    await waitFor(async () => (await stored()) >= 300, {
      timeoutMs: 30_000,
      intervalMs: 5,
      what: '300 rows',
    });
    await first.kill('SIGKILL');
    const atKill = await stored();
    expect(atKill).toBeLessThan(all.length);

    await spawnWorker(s);
    const jsm = await s.nc.jetstreamManager();
    await waitFor(
      async () => {
        const info = await jsm.consumers.info(s.topology.stream, 'archival');
        return info.num_pending === 0 && info.num_ack_pending === 0 && (await stored()) === all.length;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'every event archived' },
    );
    const bids = await s.pool.query<{ n: string; ids: string; keys: string }>(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS ids, count(DISTINCT (item_id, seq)) AS keys FROM bids`,
    );
    expect(bids.rows[0]).toEqual({
      n: String(ITEMS * BIDS_PER_ITEM),
      ids: String(ITEMS * BIDS_PER_ITEM),
      keys: String(ITEMS * BIDS_PER_ITEM),
    });
    const expectedIds = new Set(all.map((e) => e.id));
    const ids = await s.pool.query<{ id: string }>(
      'SELECT event_id AS id FROM bids UNION ALL SELECT id FROM chat_messages',
    );
    expect(ids.rows).toHaveLength(all.length);
    expect(ids.rows.every((r) => expectedIds.has(r.id))).toBe(true);
    // Per item, the seqs are exactly 1..N.
    const perItem = await s.pool.query<{ n: string; max: number }>(
      `SELECT count(*) AS n, max(seq) AS max FROM bids GROUP BY item_id`,
    );
    expect(perItem.rows).toHaveLength(ITEMS);
    expect(perItem.rows.every((r) => Number(r.n) === BIDS_PER_ITEM && r.max === BIDS_PER_ITEM)).toBe(true);
  });
});

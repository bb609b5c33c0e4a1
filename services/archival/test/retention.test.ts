import { afterEach, describe, expect, it } from 'vitest';
import { makeEvent } from '@gavel/shared';
import { migrate } from '../src/migrate.js';
import { writeEvents } from '../src/archive-repository.js';
import { deleteExpiredMessages } from '../src/retention.js';
import { createSandbox, startWorker, waitFor } from './helper.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000);

function messages(ageHours: number, n: number) {
  return Array.from({ length: n }, (_, i) => [
    makeEvent(
      'chat.message',
      { roomId: 'r', userId: 'u', text: `c${i}`, clientMsgId: `c${i}` },
      { at: hoursAgo(ageHours) },
    ),
    makeEvent(
      'dm.message',
      { from: 'a', to: 'b', text: `d${i}`, clientMsgId: `d${i}` },
      { at: hoursAgo(ageHours) },
    ),
  ]).flat();
}

describe('retention', () => {
  it('deletes only messages older than the retention, in chunks', async () => {
    const s = await createSandbox();
    cleanups.push(() => s.close());
    await migrate(s.db.url);
    const client = await s.pool.connect();
    await writeEvents(client, [...messages(30, 25), ...messages(23, 3), ...messages(0, 4)]);
    // Bids are never expired, whatever their age.
    await writeEvents(client, [
      makeEvent('bid.accepted', { itemId: 'i', seq: 1, userId: 'u', amountCents: 1 }, { at: hoursAgo(1000) }),
    ]);
    client.release();

    const deleted = await deleteExpiredMessages(s.pool, 24, { chunkSize: 10 });
    expect(deleted).toEqual({ chat_messages: 25, direct_messages: 25 });
    expect(await s.count('chat_messages')).toBe(7);
    expect(await s.count('direct_messages')).toBe(7);
    expect(await s.count('chat_messages', `sent_at < now() - interval '24 hours'`)).toBe(0);
    expect(await s.count('bids')).toBe(1);
    expect(await deleteExpiredMessages(s.pool, 24)).toEqual({ chat_messages: 0, direct_messages: 0 });
  });

  it('runs periodically in the worker and counts what it deleted', async () => {
    const s = await createSandbox();
    cleanups.push(() => s.close());
    const w = await startWorker(s, { CHAT_RETENTION_HOURS: '2', RETENTION_INTERVAL_S: '1' });
    cleanups.push(() => w.stop());
    const old = messages(3, 2);
    const fresh = messages(1, 2);
    for (const e of [...old, ...fresh]) await s.publish(e);
    await waitFor(async () => (await w.metric('gavel_archival_messages_acked_total')) === 8, {
      timeoutMs: 20_000,
      what: 'messages archived',
    });
    await waitFor(async () => (await w.metric('gavel_archival_retention_deleted_rows_total')) === 4, {
      timeoutMs: 20_000,
      what: 'retention to run',
    });
    expect(await w.metric('gavel_archival_retention_deleted_rows_total', { table: 'chat_messages' })).toBe(2);
    expect(await s.count('chat_messages')).toBe(2);
    expect(await s.count('direct_messages')).toBe(2);
    expect(await s.count('chat_messages', `sent_at < now() - interval '2 hours'`)).toBe(0);
  });
});

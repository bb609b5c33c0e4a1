import { afterEach, describe, expect, it } from 'vitest';
import { encodeEvent, makeEvent, subjects } from '@gavel/shared';
import { DEAD_LETTER_HEADERS } from '../src/archival-worker.js';
import { createSandbox, readDeadLetters, startWorker, waitFor, type Sandbox } from './helper.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sandbox(): Promise<Sandbox> {
  const s = await createSandbox();
  cleanups.push(() => s.close());
  return s;
}

describe('dead letters', () => {
  it('moves messages that fail the schema to the dead-letter stream and keeps archiving', async () => {
    const s = await sandbox();
    const w = await startWorker(s);
    cleanups.push(() => w.stop());
    const subj = subjects(s.topology);
    const good = makeEvent('chat.message', { roomId: 'r', userId: 'u', text: 'before', clientMsgId: 'a' });
    await s.publish(good);
    await s.publishRaw(subj.chat('r'), 'this is not json');
    const wrongShape = { ...makeEvent('bid.accepted', { itemId: 'i', seq: 1, userId: 'u', amountCents: 5 }) };
    await s.publishRaw(subj.bidAccepted('i'), JSON.stringify({ ...wrongShape, amountCents: -5 }));
    await s.publishRaw(subj.bidAccepted('i'), JSON.stringify({ ...wrongShape, type: 'bid.retracted' }));
    const after = [
      makeEvent('chat.message', { roomId: 'r', userId: 'u', text: 'after', clientMsgId: 'b' }),
      makeEvent('bid.accepted', { itemId: 'i', seq: 1, userId: 'u', amountCents: 700 }),
    ];
    for (const e of after) await s.publish(e);

    const letters = await readDeadLetters(s, 3);
    expect(letters.map((l) => l.subject)).toEqual([
      subj.deadLetter('bad_schema'),
      subj.deadLetter('bad_schema'),
      subj.deadLetter('bad_schema'),
    ]);
    expect(letters[0]!.data).toBe('this is not json');
    expect(letters[0]!.header.get(DEAD_LETTER_HEADERS.reason)).toBe('not_json');
    expect(letters[0]!.header.get(DEAD_LETTER_HEADERS.subject)).toBe(subj.chat('r'));
    expect(letters[0]!.header.get(DEAD_LETTER_HEADERS.stream)).toBe(s.topology.stream);
    expect(letters[1]!.header.get(DEAD_LETTER_HEADERS.reason)).toMatch(/^invalid_event: .*amountCents/);
    expect(letters[1]!.header.get(DEAD_LETTER_HEADERS.subject)).toBe(subj.bidAccepted('i'));
    expect(letters[2]!.header.get(DEAD_LETTER_HEADERS.reason)).toMatch(/^invalid_event/);

    await waitFor(async () => (await s.count('chat_messages')) === 2 && (await s.count('bids')) === 1, {
      timeoutMs: 20_000,
      what: 'good events stored',
    });
    expect(await s.count('bids', 'amount_cents = 700')).toBe(1);
    expect(await w.metric('gavel_archival_dead_lettered_total', { reason: 'bad_schema' })).toBe(3);
    // The bad messages are terminated, not waiting for redelivery.
    await waitFor(
      async () => {
        const info = await (await s.nc.jetstreamManager()).consumers.info(s.topology.stream, 'archival');
        return info.num_pending + info.num_ack_pending === 0;
      },
      { timeoutMs: 20_000, what: 'consumer drained' },
    );
  });

  it('dead-letters an event PostgreSQL always refuses after MAX_DELIVERIES, without blocking others', async () => {
    const s = await sandbox();
    const w = await startWorker(s, { MAX_DELIVERIES: '3', BATCH_SIZE: '50' });
    cleanups.push(() => w.stop());
    // Valid by the schema, impossible in PostgreSQL: text columns cannot hold a NUL character.
    const poison = makeEvent('chat.message', {
      roomId: 'r',
      userId: 'u',
      text: 'nul\u0000byte',
      clientMsgId: 'p',
    });
    const neighbours = Array.from({ length: 10 }, (_, i) =>
      makeEvent('chat.message', { roomId: 'r', userId: 'u', text: `ok ${i}`, clientMsgId: `n${i}` }),
    );
    // In the same batch as its neighbours: they must still be stored.
    await Promise.all([...neighbours.slice(0, 5), poison, ...neighbours.slice(5)].map((e) => s.publish(e)));

    const letters = await readDeadLetters(s, 1);
    expect(letters).toHaveLength(1);
    expect(letters[0]!.subject).toBe(subjects(s.topology).deadLetter('insert_failed'));
    expect(letters[0]!.data).toBe(new TextDecoder().decode(encodeEvent(poison)));
    expect(letters[0]!.header.get(DEAD_LETTER_HEADERS.deliveries)).toBe('3');
    expect(letters[0]!.header.get(DEAD_LETTER_HEADERS.reason)).toMatch(/0x00/);
    expect(await s.count('chat_messages')).toBe(10);
    expect(await s.count('chat_messages', `id = '${poison.id}'`)).toBe(0);
    expect(await w.metric('gavel_archival_dead_lettered_total', { reason: 'insert_failed' })).toBe(1);
    expect(await w.metric('gavel_archival_messages_nacked_total', { reason: 'insert_failed' })).toBe(2);

    // The stream keeps flowing after it.
    await s.publish(makeEvent('dm.message', { from: 'a', to: 'b', text: 'later', clientMsgId: 'l' }));
    await waitFor(async () => (await s.count('direct_messages')) === 1, {
      timeoutMs: 20_000,
      what: 'later dm',
    });
  });
});

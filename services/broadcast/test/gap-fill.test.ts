import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { encodeEvent, makeEvent, subjects } from '@gavel/shared';
import { TcpRelay, uniqueId, waitFor } from '@gavel/shared/testing';
import { TestWorld, call, connected, metric, range, sio } from './helpers.js';

/**
 * Live events are core NATS messages: one lost while the replica's NATS connection was cut is
 * found by the next event's predecessor header and read back from the stream, in order.
 */
describe('a replica cut from NATS misses nothing', () => {
  const world = new TestWorld();
  const relay = new TcpRelay(() => ({ host: '127.0.0.1', port: 4222 }));
  let url = '';
  const sockets: Socket[] = [];

  beforeAll(async () => {
    await relay.listen(0);
    ({ url } = await world.startInProcess({
      NATS_URL: `nats://127.0.0.1:${relay.port}`,
      CHAT_RATE_PER_S: '100',
    }));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await relay.close();
    await world.close();
  });

  it('fills the gap of chat and DMs stored while it was away, in order, once', async () => {
    const s = sio(url, { auth: { token: await world.token('cut_user') } });
    sockets.push(s);
    await connected(s);
    const chats: string[] = [];
    const dms: string[] = [];
    s.on('chat', (m: { text: string }) => chats.push(m.text));
    s.on('dm', (m: { text: string }) => dms.push(m.text));
    await call(s, 'room:join', { roomId: 'cut_room' });
    const js = await world.js();
    const s_ = subjects(world.topology);
    const chat = (text: string) => {
      const e = makeEvent('chat.message', {
        roomId: 'cut_room',
        userId: 'other',
        text,
        clientMsgId: uniqueId('c'),
      });
      return js.publish(s_.chat('cut_room'), encodeEvent(e), { msgID: e.id });
    };
    const dm = (text: string) => {
      const e = makeEvent('dm.message', { from: 'other', to: 'cut_user', text, clientMsgId: uniqueId('d') });
      return js.publish(s_.dm('cut_user'), encodeEvent(e), { msgID: e.id });
    };
    await chat('before');
    await dm('before');
    await waitFor(() => chats.length === 1 && dms.length === 1);

    await relay.close();
    for (const n of range(1, 5)) {
      await chat(`away ${n}`);
      await dm(`away ${n}`);
    }
    await relay.listen();
    // nats.js reconnects and subscribes again; the next event reveals what was missed.
    await waitFor(async () => (await fetch(`${url}/readyz`)).ok, { timeoutMs: 20_000, what: 'NATS back' });
    await waitFor(
      async () => {
        await chat('after');
        await dm('after');
        return chats.includes('after') && dms.includes('after');
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'live events again' },
    );
    const expected = ['before', ...range(1, 5).map((n) => `away ${n}`)];
    // Events sent while the subscription was coming back may be more than one 'after'.
    expect(chats.slice(0, 6)).toEqual(expected);
    expect(dms.slice(0, 6)).toEqual(expected);
    expect(chats.slice(6).every((t) => t === 'after')).toBe(true);
    expect(new Set(chats.slice(6)).size).toBe(1);
    expect(await metric(url, 'gavel_broadcast_drops_total', { reason: 'gap_fill' })).toBeGreaterThan(0);
  }, 90_000);
});

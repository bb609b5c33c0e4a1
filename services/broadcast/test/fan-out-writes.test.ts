import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io as ioClient, type Socket } from 'socket.io-client';
import { encodeEvent, makeEvent, subjectOf } from '@gavel/shared';
import { waitFor } from '@gavel/shared/testing';
import { TestWorld, WsClient, call, connected, range, recordBids, sio } from './helpers.js';

/**
 * The delivery path writes each event's prebuilt frame to every socket, and a burst of events
 * in one write: every transport must still see every bid once, in order, as its protocol says.
 */
describe('fan-out writes', () => {
  const world = new TestWorld();
  let url = '';

  beforeAll(async () => {
    ({ url } = await world.startInProcess());
  });
  afterAll(() => world.close());

  /** Publishes bids from..to without waiting between them, so they reach the replica together. */
  async function burst(itemId: string, from: number, to: number): Promise<void> {
    const js = await world.js();
    await Promise.all(
      range(from, to).map((seq) => {
        const e = makeEvent('bid.accepted', { itemId, seq, userId: 'burst', amountCents: 1000 + seq });
        return js.publish(subjectOf(e, world.topology), encodeEvent(e), { msgID: e.id });
      }),
    );
  }

  function polling(token: string, upgrade: boolean): Socket {
    return ioClient(url, {
      path: '/socket.io',
      transports: upgrade ? ['polling', 'websocket'] : ['polling'],
      auth: { token },
      reconnection: false,
      forceNew: true,
    });
  }

  it('websocket, long-polling, upgrading Socket.IO clients and /ws all get a burst once, in order', async () => {
    const itemId = 'burst_item';
    const clients = {
      websocket: sio(url, { auth: { token: await world.token('ws_user') } }),
      polling: polling(await world.token('poll_user'), false),
      upgrading: polling(await world.token('upgrade_user'), true),
    };
    const seqs: Record<string, number[]> = {};
    for (const [name, socket] of Object.entries(clients)) {
      await connected(socket);
      seqs[name] = recordBids(socket);
      expect(await call(socket, 'item:watch', { itemId })).toMatchObject({ ok: true });
    }
    const plain = await WsClient.open(url, `token=${await world.token('plain_user')}`);
    expect(await plain.request({ type: 'watch', itemId })).toMatchObject({ type: 'ack' });
    const plainSeqs = () => plain.frames.filter((f) => f.type === 'bid').map((f) => Number(f.seq));

    // Bursts while the upgrading client may still be moving from polling to websocket.
    for (let from = 1; from <= 400; from += 100) await burst(itemId, from, from + 99);
    const all = range(1, 400);
    await waitFor(() => Object.values(seqs).every((s) => s.length >= 400) && plainSeqs().length >= 400, {
      timeoutMs: 60_000,
      what: '400 bids at every client',
    });
    await new Promise((r) => setTimeout(r, 200));
    for (const s of Object.values(seqs)) expect(s).toEqual(all);
    expect(plainSeqs()).toEqual(all);
    expect(clients.upgrading.io.engine.transport.name).toBe('websocket');
    expect(clients.polling.io.engine.transport.name).toBe('polling');
    for (const socket of Object.values(clients)) socket.close();
    plain.close();
  });

  it('replayed bids come before the watch ack, live ones after it, on both transports', async () => {
    const itemId = 'replay_then_live';
    await burst(itemId, 1, 30);
    const socket = sio(url, { auth: { token: await world.token('replayer') } });
    await connected(socket);
    const order: string[] = [];
    socket.on('bid', (b: { seq: number }) => order.push(`bid:${b.seq}`));
    const ack = await call<{ ok: boolean; lastSeq: number }>(socket, 'item:watch', { itemId, afterSeq: 0 });
    order.push('ack');
    expect(ack).toMatchObject({ ok: true, lastSeq: 30 });
    const plain = await WsClient.open(url, `token=${await world.token('plain_replayer')}`);
    await plain.request({ type: 'watch', itemId, afterSeq: 10 });
    await burst(itemId, 31, 40);
    await waitFor(() => order.length >= 41 && plain.frames.filter((f) => f.type === 'bid').length >= 30, {
      timeoutMs: 30_000,
      what: 'replay and live bids',
    });
    expect(order).toEqual([
      ...range(1, 30).map((s) => `bid:${s}`),
      'ack',
      ...range(31, 40).map((s) => `bid:${s}`),
    ]);
    const kinds = plain.frames
      .filter((f) => f.type === 'bid' || f.type === 'ack')
      .map((f) => (f.type === 'ack' ? 'ack' : `bid:${String(f.seq)}`));
    expect(kinds).toEqual([
      ...range(11, 30).map((s) => `bid:${s}`),
      'ack',
      ...range(31, 40).map((s) => `bid:${s}`),
    ]);
    socket.close();
    plain.close();
  });
});

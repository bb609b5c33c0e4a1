import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { connect } from 'nats';
import { liveRepublishOf, subjects } from '@gavel/shared';
import { TEST_NATS_URL, waitFor } from '@gavel/shared/testing';
import { TestWorld, call, connected, range, recordBids, sio } from './helpers.js';

/**
 * A stream created by an older Gavel, without RePublish: nats-server 2.9 cannot add it in place.
 * The gateway still delivers everything (one ordered consumer per subject), in order.
 */
describe('a stream created without RePublish', () => {
  const world = new TestWorld();
  let url = '';
  let republished = false;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const nc = await connect({ servers: TEST_NATS_URL });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: world.topology.stream, subjects: [subjects(world.topology).all] });
    ({ url } = await world.startInProcess({ CHAT_RATE_PER_S: '100' }));
    republished = await liveRepublishOf(jsm, world.topology);
    await nc.close();
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await world.close();
  });

  it('still delivers bids in order, chat and DMs', async () => {
    // On nats-server >= 2.10 the update adds RePublish; on 2.9 it cannot, and the fallback serves.
    console.log(`stream republishes after ensureStreams: ${republished}`);
    const s = sio(url, { auth: { token: await world.token('old_stream_user') } });
    sockets.push(s);
    await connected(s);
    const seqs = recordBids(s);
    const chats: string[] = [];
    const dms: string[] = [];
    s.on('chat', (m: { text: string }) => chats.push(m.text));
    s.on('dm', (m: { text: string }) => dms.push(m.text));
    await call(s, 'item:watch', { itemId: 'old_item' });
    await call(s, 'room:join', { roomId: 'old_room' });
    for (const seq of range(1, 20)) await world.publishBid('old_item', seq);
    const other = sio(url, { auth: { token: await world.token('old_stream_peer') } });
    sockets.push(other);
    await connected(other);
    await call(other, 'room:join', { roomId: 'old_room' });
    expect(await call(other, 'chat:send', { roomId: 'old_room', text: 'still here' })).toMatchObject({
      ok: true,
    });
    expect(await call(other, 'dm:send', { to: 'old_stream_user', text: 'psst' })).toMatchObject({ ok: true });
    await waitFor(() => seqs.length === 20 && chats.length === 1 && dms.length === 1, {
      what: 'bids, chat and a DM',
    });
    expect(seqs).toEqual(range(1, 20));
    expect(chats).toEqual(['still here']);
    expect(dms).toEqual(['psst']);
  });
});

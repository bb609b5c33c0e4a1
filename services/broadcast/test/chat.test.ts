import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { decodeEvent, subjects } from '@gavel/shared';
import { TEST_NATS_URL, waitFor } from '@gavel/shared/testing';
import { TestWorld, WsClient, call, connected, sio } from './helpers.js';
import type { Socket } from 'socket.io-client';

/** Two replicas in this process, sharing Redis and NATS like two pods. */
describe('chat, DMs, presence and rooms across replicas', () => {
  const world = new TestWorld();
  let a = '';
  let b = '';
  const sockets: Socket[] = [];
  const open = async (url: string, userId: string) => {
    const s = sio(url, { auth: { token: await world.token(userId) } });
    sockets.push(s);
    await connected(s);
    return s;
  };

  beforeAll(async () => {
    ({ url: a } = await world.startInProcess({ REPLICA_ID: 'replica-a' }));
    ({ url: b } = await world.startInProcess({ REPLICA_ID: 'replica-b' }));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await world.close();
  });

  it('delivers chat to members on both replicas and over /ws, never to other rooms', async () => {
    const alice = await open(a, 'alice');
    const bob = await open(b, 'bob');
    const outsider = await open(b, 'oscar');
    const carol = await WsClient.open(b, `token=${await world.token('carol')}`);
    const seen: Record<string, string[]> = { alice: [], bob: [], oscar: [] };
    alice.on('chat', (m: { text: string }) => seen.alice?.push(m.text));
    bob.on('chat', (m: { text: string }) => seen.bob?.push(m.text));
    outsider.on('chat', (m: { text: string }) => seen.oscar?.push(m.text));
    for (const s of [alice, bob])
      expect(await call(s, 'room:join', { roomId: 'lobby' })).toMatchObject({ ok: true });
    expect(await call(outsider, 'room:join', { roomId: 'elsewhere' })).toMatchObject({ ok: true });
    expect(await carol.request({ type: 'join', room: 'lobby' })).toMatchObject({ type: 'ack', for: 'join' });

    const ack = await call<{ ok: boolean; id: string; at: string }>(alice, 'chat:send', {
      roomId: 'lobby',
      text: 'hello from a',
      clientMsgId: 'm1',
    });
    expect(ack.ok).toBe(true);
    expect(typeof ack.id).toBe('string');
    expect(await carol.request({ type: 'chat', room: 'lobby', message: 'hello from ws' })).toMatchObject({
      type: 'ack',
      for: 'chat',
    });
    await waitFor(() => seen.bob?.length === 2 && seen.alice?.length === 2, {
      what: 'chat on both replicas',
    });
    expect(seen.bob).toEqual(['hello from a', 'hello from ws']);
    expect(seen.alice).toEqual(['hello from a', 'hello from ws']);
    await carol.next((f) => f.type === 'chat' && f.text === 'hello from a' && f.userId === 'alice');
    await carol.next((f) => f.type === 'chat' && f.text === 'hello from ws' && f.userId === 'carol');
    // A message to another room, then one to lobby: oscar saw nothing of lobby.
    await call(outsider, 'chat:send', { roomId: 'elsewhere', text: 'psst', clientMsgId: 'o1' });
    await call(alice, 'chat:send', { roomId: 'lobby', text: 'last', clientMsgId: 'm2' });
    await waitFor(() => seen.bob?.includes('last'));
    expect(seen.oscar).toEqual(['psst']);
    expect(seen.bob).not.toContain('psst');
    expect(carol.frames.some((f) => f.text === 'psst')).toBe(false);
    carol.close();
  });

  it('stores each chat message once in JetStream, however often the client retries', async () => {
    const dana = await open(a, 'dana');
    await call(dana, 'room:join', { roomId: 'dedup' });
    const first = await call<{ id: string; at: string; cursor: number }>(dana, 'chat:send', {
      roomId: 'dedup',
      text: 'once',
      clientMsgId: 'same',
    });
    const retry = await call<{ id: string; at: string; cursor: number }>(dana, 'chat:send', {
      roomId: 'dedup',
      text: 'once',
      clientMsgId: 'same',
    });
    // The retry is answered with the first copy, its stream cursor included.
    expect(retry).toEqual({ ok: true, id: first.id, roomId: 'dedup', at: first.at, cursor: first.cursor });
    await call(dana, 'chat:send', { roomId: 'dedup', text: 'twice', clientMsgId: 'other' });
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(world.topology.stream, {
        subjects_filter: subjects(world.topology).chat('dedup'),
      });
      expect(info.state.subjects?.[subjects(world.topology).chat('dedup')]).toBe(2);
      const last = await jsm.streams.getMessage(world.topology.stream, {
        last_by_subj: subjects(world.topology).chat('dedup'),
      });
      const decoded = decodeEvent(last.data);
      expect(decoded.ok && decoded.event).toMatchObject({
        type: 'chat.message',
        userId: 'dana',
        text: 'twice',
      });
    } finally {
      await nc.close();
    }
  });

  it('sends a DM to every device of the recipient and the sender’s other devices, and to no one else', async () => {
    const phone = await open(a, 'erin');
    const laptop = await open(b, 'erin');
    const wsTablet = await WsClient.open(a, `token=${await world.token('erin')}`);
    const frank = await open(b, 'frank');
    const frankOther = await open(a, 'frank');
    const eve = await open(b, 'eve');
    const got: Record<string, unknown[]> = { phone: [], laptop: [], frank: [], frankOther: [], eve: [] };
    phone.on('dm', (m: unknown) => got.phone?.push(m));
    laptop.on('dm', (m: unknown) => got.laptop?.push(m));
    frank.on('dm', (m: unknown) => got.frank?.push(m));
    frankOther.on('dm', (m: unknown) => got.frankOther?.push(m));
    eve.on('dm', (m: unknown) => got.eve?.push(m));
    const ack = await call<{ ok: boolean; id: string }>(frank, 'dm:send', {
      to: 'erin',
      text: 'hi erin',
      clientMsgId: 'd1',
    });
    expect(ack.ok).toBe(true);
    await waitFor(() => got.phone?.length === 1 && got.laptop?.length === 1 && got.frankOther?.length === 1);
    await wsTablet.next((f) => f.type === 'dm' && f.text === 'hi erin' && f.from === 'frank');
    expect(got.phone?.[0]).toMatchObject({ id: ack.id, from: 'frank', to: 'erin', text: 'hi erin' });
    await new Promise((r) => setTimeout(r, 200));
    expect(got.frank).toEqual([]);
    expect(got.eve).toEqual([]);
    wsTablet.close();
  });

  it('tracks presence across replicas and lists rooms with member counts', async () => {
    const gil = await open(a, 'gil');
    const hal = await open(b, 'hal');
    const events: unknown[] = [];
    gil.on('presence', (p: unknown) => events.push(p));
    await call(gil, 'room:join', { roomId: 'pres' });
    await call(hal, 'room:join', { roomId: 'pres' });
    await waitFor(() =>
      events.some(
        (e) => JSON.stringify(e) === JSON.stringify({ roomId: 'pres', userId: 'hal', state: 'join' }),
      ),
    );
    expect(await call(hal, 'presence:get', { roomId: 'pres' })).toMatchObject({
      ok: true,
      users: ['gil', 'hal'],
    });
    const list = await call<{ rooms: Array<{ roomId: string; members: number }> }>(gil, 'rooms:list');
    expect(list.rooms).toContainEqual({ roomId: 'pres', members: 2 });
    await call(hal, 'room:leave', { roomId: 'pres' });
    await waitFor(() =>
      events.some(
        (e) => JSON.stringify(e) === JSON.stringify({ roomId: 'pres', userId: 'hal', state: 'leave' }),
      ),
    );
    expect(await call(gil, 'presence:get', { roomId: 'pres' })).toMatchObject({ users: ['gil'] });
    const ws = await WsClient.open(b, `token=${await world.token('ivy')}`);
    expect(await ws.request({ type: 'rooms' })).toMatchObject({
      type: 'rooms',
      rooms: expect.arrayContaining([{ roomId: 'pres', members: 1 }]),
    });
    ws.close();
  });
});

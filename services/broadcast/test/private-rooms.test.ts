import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { Socket } from 'socket.io-client';
import { roomKeys, signToken } from '@gavel/shared';
import { TEST_REDIS_URL, TestStack, freePort, uniqueId, waitFor } from '@gavel/shared/testing';
import { WsClient, call, connected, sio } from './helpers.js';

type Frame = Record<string, unknown>;

/**
 * Private rooms end to end: the api creates them and manages their members (its outbox
 * publishes each change), broadcast enforces them on both transports, archival stores their chat
 * and the api serves it to members only. To a non-member a private room does not exist: joins,
 * presence and chat are refused with `forbidden`, `rooms:list` leaves it out, and none of its
 * events reach them. Broadcast runs with ROOM_ACCESS_RECHECK_S=3600, so what happens at once
 * happens by the api's events; a second replica rechecks every second, for an event it missed.
 */
describe('private rooms, api to broadcast', () => {
  let stack: TestStack;
  let api = '';
  let bc = '';
  let quickRecheck = '';
  const sockets: Socket[] = [];
  const wsClients: WsClient[] = [];
  const redis = new Redis(TEST_REDIS_URL);

  const token = (user: string) => signToken(stack.secret, user);
  async function http(method: string, path: string, user: string, body?: unknown) {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await token(user)}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });
    return { status: res.status, body: (await res.json()) as Frame };
  }
  async function createRoom(id: string, creator: string, members: string[]) {
    const res = await http('POST', '/api/v1/rooms', creator, { id, private: true, members });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }

  /** A Socket.IO client that records every event it gets. */
  async function sioUser(user: string, url = bc) {
    const socket = sio(url, { auth: { token: await token(user) } });
    sockets.push(socket);
    const events: Array<{ event: string; payload: Frame }> = [];
    socket.onAny((event: string, payload: Frame) => events.push({ event, payload }));
    await connected(socket);
    return { socket, events };
  }
  async function wsUser(user: string, query = '', url = bc) {
    const client = await WsClient.open(url, `token=${await token(user)}${query}`);
    wsClients.push(client);
    return client;
  }
  const aboutRoom = (roomId: string) => (p: Frame) => p.roomId === roomId || p.room === roomId;

  beforeAll(async () => {
    stack = await TestStack.start({ env: { broadcast: { ROOM_ACCESS_RECHECK_S: '3600' } } });
    api = stack.url('api');
    bc = stack.url('broadcast');
    const port = await freePort();
    await stack.spawn('broadcast', {
      port,
      env: { ROOM_ACCESS_RECHECK_S: '1', REPLICA_ID: 'quick-recheck' },
    });
    quickRecheck = `http://127.0.0.1:${port}`;
  }, 300_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of wsClients) c.close();
    await redis.quit();
    await stack?.stop();
  });

  it('lets members join and chat, and hides the room from everyone else on both transports', async () => {
    const room = uniqueId('secret');
    await createRoom(room, 'ann', ['bob']);
    const ann = await sioUser('ann');
    const bob = await wsUser('bob');
    const eve = await sioUser('eve');
    const eveWs = await wsUser('eve');

    expect(await call(ann.socket, 'room:join', { roomId: room })).toMatchObject({ ok: true, roomId: room });
    expect(await bob.request({ type: 'join', room })).toMatchObject({ type: 'ack', for: 'join' });

    // eve: no join (with or without a cursor: no history either), no presence, no chat.
    for (const payload of [{ roomId: room }, { roomId: room, afterCursor: 0 }]) {
      expect(await call(eve.socket, 'room:join', payload)).toMatchObject({ ok: false, code: 'forbidden' });
    }
    expect(await call(eve.socket, 'presence:get', { roomId: room })).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
    expect(await call(eve.socket, 'chat:send', { roomId: room, text: 'let me in' })).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
    for (const frame of [
      { type: 'join', room },
      { type: 'join', room, after: 0 },
      { type: 'presence', room },
      { type: 'chat', room, message: 'let me in' },
    ]) {
      expect(await eveWs.request(frame), JSON.stringify(frame)).toMatchObject({
        type: 'error',
        code: 'forbidden',
      });
    }
    // Joining at connect (seed 003's ?roomId=) is refused the same way.
    const atConnect = await wsUser('eve', `&roomId=${room}`);
    expect(await atConnect.next((f) => f.type === 'error', 'the refused join')).toMatchObject({
      code: 'forbidden',
      for: 'join',
    });

    // rooms:list: the members see it, eve does not.
    const listed = (rooms: unknown) => (rooms as Array<{ roomId: string }>).some((r) => r.roomId === room);
    const annList = await call<{ rooms: unknown }>(ann.socket, 'rooms:list');
    expect(listed(annList.rooms)).toBe(true);
    expect(listed((await bob.request({ type: 'rooms' })).rooms)).toBe(true);
    expect(listed((await call<{ rooms: unknown }>(eve.socket, 'rooms:list')).rooms)).toBe(false);
    expect(listed((await eveWs.request({ type: 'rooms' })).rooms)).toBe(false);
    expect(await call(ann.socket, 'presence:get', { roomId: room })).toMatchObject({ users: ['ann', 'bob'] });

    // Members chat; both transports get it.
    const sent = await call<{ ok: boolean; id: string }>(ann.socket, 'chat:send', {
      roomId: room,
      text: 'hello bob',
    });
    expect(sent.ok).toBe(true);
    await bob.next((f) => f.type === 'chat' && f.id === sent.id, 'bob gets the chat');
    const reply = await bob.request({ type: 'chat', room, message: 'hi ann' });
    await waitFor(() => ann.events.find((e) => e.event === 'chat' && e.payload.id === reply.id), {
      what: 'ann gets the reply',
    });

    // The chat is archived and served to members only.
    const history = await waitFor(
      async () => {
        const res = await http('GET', `/api/v1/rooms/${room}/messages`, 'bob');
        return (res.body.messages as unknown[] | undefined)?.length === 2 ? res : null;
      },
      { timeoutMs: 60_000, what: 'both messages archived' },
    );
    expect(history.status).toBe(200);
    expect(await http('GET', `/api/v1/rooms/${room}/messages`, 'eve')).toMatchObject({
      status: 404,
      body: { error: 'room_not_found' },
    });

    // Nothing of the room ever reached eve.
    expect(eve.events.filter((e) => aboutRoom(room)(e.payload))).toEqual([]);
    // (Its own refusals aside, and the welcome that echoes the room it asked for.)
    const own = new Set(['error', 'welcome']);
    expect(
      [...eveWs.frames, ...atConnect.frames].filter((f) => !own.has(String(f.type)) && aboutRoom(room)(f)),
    ).toEqual([]);
  });

  it('lets a member added join at once, and takes a member removed while connected out of the room', async () => {
    const room = uniqueId('club');
    await createRoom(room, 'ann', []);
    const ann = await sioUser('ann');
    const cid = await sioUser('cid');
    const dan = await wsUser('dan');
    expect(await call(ann.socket, 'room:join', { roomId: room })).toMatchObject({ ok: true });
    // Refused first (and that refusal is what the replica remembers for an hour)…
    expect(await call(cid.socket, 'room:join', { roomId: room })).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
    expect(await dan.request({ type: 'join', room })).toMatchObject({ type: 'error', code: 'forbidden' });

    // …then added: the api's event makes the replica read the room again.
    for (const user of ['cid', 'dan']) {
      expect((await http('POST', `/api/v1/rooms/${room}/members`, 'ann', { userId: user })).status).toBe(200);
    }
    await waitFor(async () => (await call<{ ok: boolean }>(cid.socket, 'room:join', { roomId: room })).ok, {
      timeoutMs: 30_000,
      what: 'cid admitted',
    });
    await waitFor(async () => (await dan.request({ type: 'join', room })).type === 'ack', {
      timeoutMs: 30_000,
      what: 'dan admitted',
    });
    await waitFor(() => ann.events.some((e) => e.event === 'presence' && e.payload.userId === 'dan'), {
      what: 'dan arriving',
    });

    // Removed while connected: told at once, and nothing more of the room arrives.
    expect((await http('DELETE', `/api/v1/rooms/${room}/members/cid`, 'ann')).status).toBe(200);
    expect((await http('DELETE', `/api/v1/rooms/${room}/members/dan`, 'ann')).status).toBe(200);
    await waitFor(() => cid.events.find((e) => e.event === 'room:removed'), {
      timeoutMs: 30_000,
      what: 'room:removed',
    });
    expect(cid.events.find((e) => e.event === 'room:removed')?.payload).toEqual({ roomId: room });
    expect(await dan.next((f) => f.type === 'room_removed', 'room_removed')).toEqual({
      type: 'room_removed',
      room,
    });
    await waitFor(
      () =>
        ['cid', 'dan'].every((u) =>
          ann.events.some(
            (e) => e.event === 'presence' && e.payload.userId === u && e.payload.state === 'leave',
          ),
        ),
      { what: 'their leaves announced' },
    );
    const after = await call<{ id: string }>(ann.socket, 'chat:send', { roomId: room, text: 'just us now' });
    await waitFor(() => ann.events.find((e) => e.event === 'chat' && e.payload.id === after.id), {
      what: 'ann gets her chat',
    });
    // Nothing of the room after the notice: not their own leaves, not ann's chat.
    const cidOut = cid.events.findIndex((e) => e.event === 'room:removed');
    const danOut = dan.frames.findIndex((f) => f.type === 'room_removed');
    expect(cid.events.slice(cidOut + 1).filter((e) => aboutRoom(room)(e.payload))).toEqual([]);
    expect(dan.frames.slice(danOut + 1).filter(aboutRoom(room))).toEqual([]);
    // And they cannot come back, chat or look in.
    expect(await call(cid.socket, 'room:join', { roomId: room })).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
    expect(await call(cid.socket, 'chat:send', { roomId: room, text: 'hello?' })).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
    expect(await dan.request({ type: 'presence', room })).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await call(ann.socket, 'presence:get', { roomId: room })).toMatchObject({ users: ['ann'] });
  });

  it('catches a removal whose event it never heard, at the next recheck', async () => {
    const room = uniqueId('quiet');
    await createRoom(room, 'ann', ['fay']);
    const fay = await sioUser('fay', quickRecheck);
    expect(await call(fay.socket, 'room:join', { roomId: room })).toMatchObject({ ok: true });
    // As if the api's event were lost: the record changes in Redis and nothing is announced.
    await redis.srem(roomKeys(stack.redisPrefix, room).members, 'fay');
    await waitFor(() => fay.events.find((e) => e.event === 'room:removed' && e.payload.roomId === room), {
      timeoutMs: 30_000,
      what: 'room:removed after the recheck',
    });
    expect(await call(fay.socket, 'room:join', { roomId: room })).toMatchObject({
      ok: false,
      code: 'forbidden',
    });
  });

  it('keeps public rooms open to all, and item rooms public', async () => {
    const lobby = uniqueId('lobby');
    const eve = await sioUser('eve');
    const gus = await wsUser('gus');
    expect(await call(eve.socket, 'room:join', { roomId: lobby })).toMatchObject({ ok: true });
    expect(await gus.request({ type: 'join', room: lobby })).toMatchObject({ type: 'ack' });
    expect(await call(eve.socket, 'presence:get', { roomId: lobby })).toMatchObject({
      users: ['eve', 'gus'],
    });
    const listed = await gus.request({ type: 'rooms' });
    expect(listed.rooms).toEqual(expect.arrayContaining([{ roomId: lobby, members: 2 }]));
    // A room created public is public too.
    const open = uniqueId('open');
    expect((await http('POST', '/api/v1/rooms', 'ann', { id: open, private: false })).status).toBe(201);
    expect(await call(eve.socket, 'room:join', { roomId: open })).toMatchObject({ ok: true });
    // An item's room cannot be made private, and anyone can chat in it.
    const item = await http('POST', '/api/v1/items', 'ann', {
      title: 'Lamp',
      startingPrice: '1.00',
      minIncrement: '1.00',
      endsAt: Date.now() + 600_000,
    });
    const itemId = String(item.body.id);
    expect(await http('POST', '/api/v1/rooms', 'ann', { id: itemId, private: true })).toMatchObject({
      status: 409,
      body: { error: 'item_room' },
    });
    expect(await call(eve.socket, 'room:join', { roomId: itemId })).toMatchObject({ ok: true });
    expect(await call(eve.socket, 'chat:send', { roomId: itemId, text: 'nice lamp' })).toMatchObject({
      ok: true,
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { makeEvent } from '@gavel/shared';
import { uniqueId, waitFor } from '@gavel/shared/testing';
import { MAX_CHAT_REPLAY } from '@gavel/shared';
import { TestWorld, WsClient, call, connected, range, sio } from './helpers.js';

interface ChatPayload {
  id: string;
  roomId: string;
  userId: string;
  text: string;
  cursor: number;
}

/**
 * Chat resume by cursor (room:join afterCursor, /ws join after): two replicas in this process.
 * A client that was away re-joins on the OTHER replica and gets exactly what it missed, once, in
 * order, before the join's ack, then live messages.
 */
describe('chat resumes from a cursor on any replica', () => {
  const world = new TestWorld();
  let a = '';
  let b = '';
  const sockets: Socket[] = [];
  const wsClients: WsClient[] = [];

  const open = async (url: string, userId: string) => {
    const s = sio(url, { auth: { token: await world.token(userId) } });
    sockets.push(s);
    await connected(s);
    return s;
  };
  const openWs = async (url: string, userId: string) => {
    const c = await WsClient.open(url, `token=${await world.token(userId)}`);
    wsClients.push(c);
    return c;
  };
  /** Sends one message and returns its ack (with `cursor`). */
  const say = (s: Socket, roomId: string, text: string) =>
    call<{ ok: boolean; id: string; at: string; cursor: number }>(s, 'chat:send', {
      roomId,
      text,
      clientMsgId: uniqueId('m'),
    });
  const wsChats = (c: WsClient, roomId: string) =>
    c.frames.filter((f) => f.type === 'chat' && f.roomId === roomId) as unknown as ChatPayload[];
  const recordChats = (s: Socket, roomId: string): ChatPayload[] => {
    const seen: ChatPayload[] = [];
    s.on('chat', (m: ChatPayload) => {
      if (m.roomId === roomId) seen.push(m);
    });
    return seen;
  };

  beforeAll(async () => {
    // Generous rate limits: these tests send bursts on purpose.
    const extra = { CHAT_RATE_PER_S: '1000', EVENT_RATE_PER_S: '2000' };
    ({ url: a } = await world.startInProcess({ ...extra, REPLICA_ID: 'resume-a' }));
    ({ url: b } = await world.startInProcess({ ...extra, REPLICA_ID: 'resume-b' }));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of wsClients) c.close();
    await world.close();
  });

  it('gives every chat message its stream cursor, in the event and in the ack, stable across retries', async () => {
    const sender = await open(a, 'cursor_sender');
    const listener = await openWs(b, 'cursor_listener');
    const joined = await call<{ ok: boolean; cursor: number }>(sender, 'room:join', { roomId: 'cursors' });
    expect(joined).toMatchObject({ ok: true, cursor: 0 });
    expect(await listener.request({ type: 'join', room: 'cursors' })).toMatchObject({
      type: 'ack',
      cursor: 0,
    });
    const seen = recordChats(sender, 'cursors');
    const payload = { roomId: 'cursors', text: 'one', clientMsgId: 'same-id' };
    const first = await call<{ ok: boolean; cursor: number }>(sender, 'chat:send', payload);
    const retry = await call<{ ok: boolean; cursor: number }>(sender, 'chat:send', payload);
    expect(first.cursor).toBeGreaterThan(0);
    expect(Number.isSafeInteger(first.cursor)).toBe(true);
    expect(retry).toEqual(first);
    const second = await say(sender, 'cursors', 'two');
    expect(second.cursor).toBeGreaterThan(first.cursor);
    await waitFor(() => seen.length === 2 && wsChats(listener, 'cursors').length === 2, {
      what: 'both chats',
    });
    expect(seen.map((m) => m.cursor)).toEqual([first.cursor, second.cursor]);
    expect(wsChats(listener, 'cursors').map((m) => m.cursor)).toEqual([first.cursor, second.cursor]);
    // A later plain join reports the room's cursor so far.
    const late = await openWs(a, 'cursor_late');
    expect(await late.request({ type: 'join', room: 'cursors' })).toMatchObject({
      type: 'ack',
      cursor: second.cursor,
    });
  });

  it('/ws: a client that was away re-joins on the other replica with `after` and misses nothing', async () => {
    const room = 'ws_resume';
    const bob = await open(b, 'bob');
    await call(bob, 'room:join', { roomId: room });
    const carol = await openWs(a, 'carol');
    await carol.request({ type: 'join', room });
    const before = await say(bob, room, 'before');
    const seenBefore = await carol.next((f) => f.type === 'chat' && f.text === 'before');
    expect(seenBefore.cursor).toBe(before.cursor);
    carol.close();
    await waitFor(
      async () =>
        ((await call<{ users: string[] }>(bob, 'presence:get', { roomId: room })).users ?? []).every(
          (u) => u !== 'carol',
        ),
      { what: 'carol gone' },
    );

    const missed: number[] = [];
    for (const n of range(1, 6)) missed.push((await say(bob, room, `missed ${n}`)).cursor);

    const back = await openWs(b, 'carol');
    const ack = await back.request({ type: 'join', room, after: seenBefore.cursor });
    expect(ack).toMatchObject({
      type: 'ack',
      for: 'join',
      replayed: 6,
      truncated: false,
      cursor: missed.at(-1),
    });
    // The replay came before the ack, as ordinary chat frames.
    const ackIndex = back.frames.indexOf(ack);
    const replayed = back.frames.slice(0, ackIndex).filter((f) => f.type === 'chat');
    expect(replayed.map((f) => f.cursor)).toEqual(missed);
    expect(replayed.map((f) => f.text)).toEqual(range(1, 6).map((n) => `missed ${n}`));

    const live = await say(bob, room, 'live again');
    const sentinel = await say(bob, room, 'sentinel');
    await back.next((f) => f.type === 'chat' && f.cursor === sentinel.cursor);
    expect(wsChats(back, room).map((m) => m.cursor)).toEqual([...missed, live.cursor, sentinel.cursor]);
  });

  it('Socket.IO without session recovery: a fresh connection joins with afterCursor and misses nothing', async () => {
    const room = 'sio_resume';
    const erin = await open(a, 'erin');
    await call(erin, 'room:join', { roomId: room });
    const dave = await open(b, 'dave');
    const daveSeen = recordChats(dave, room);
    await call(dave, 'room:join', { roomId: room });
    const before = await say(erin, room, 'before');
    await waitFor(() => daveSeen.some((m) => m.cursor === before.cursor), { what: 'dave sees before' });
    const last = Math.max(...daveSeen.map((m) => m.cursor));
    dave.close();

    const missed: number[] = [];
    for (const n of range(1, 5)) missed.push((await say(erin, room, `missed ${n}`)).cursor);

    // A brand-new connection (no session to recover), on the other replica.
    const again = await open(a, 'dave');
    const seen = recordChats(again, room);
    const ack = await call<Record<string, unknown>>(again, 'room:join', { roomId: room, afterCursor: last });
    const atAck = seen.map((m) => m.cursor);
    expect(ack).toMatchObject({ ok: true, replayed: 5, truncated: false, cursor: missed.at(-1) });
    expect(atAck).toEqual(missed);
    expect(seen.map((m) => m.text)).toEqual(range(1, 5).map((n) => `missed ${n}`));

    const live = await say(erin, room, 'live');
    const sentinel = await say(erin, room, 'sentinel');
    await waitFor(() => seen.some((m) => m.cursor === sentinel.cursor), { what: 'sentinel' });
    expect(seen.map((m) => m.cursor)).toEqual([...missed, live.cursor, sentinel.cursor]);
    // Presence still reaches a client on this path.
    const presence: unknown[] = [];
    again.on('presence', (p: { roomId: string }) => p.roomId === room && presence.push(p));
    const frank = await open(b, 'frank_presence');
    await call(frank, 'room:join', { roomId: room });
    await waitFor(() => presence.length > 0, { what: 'presence join' });
    expect(presence).toEqual([{ roomId: room, userId: 'frank_presence', state: 'join' }]);
  });

  it('has no gap and no duplicate when messages are sent while the join replays', async () => {
    const room = 'seam';
    const sender = await open(b, 'seam_sender');
    await call(sender, 'room:join', { roomId: room });
    const start = await say(sender, room, 'start');
    const sent: number[] = [];
    // One sender, each send awaited: live order is cursor order, so exact order can be asserted.
    const sending = (async () => {
      for (const n of range(1, 80)) sent.push((await say(sender, room, `m${n}`)).cursor);
    })();
    await waitFor(() => sent.length >= 10, { what: 'a few messages out' });
    // Join mid-stream, on both replicas and both transports, while the sender keeps going.
    const [wsA, wsB, sioA, sioB] = await Promise.all([
      openWs(a, 'seam_ws_a'),
      openWs(b, 'seam_ws_b'),
      open(a, 'seam_sio_a'),
      open(b, 'seam_sio_b'),
    ]);
    const sioSeen = [recordChats(sioA, room), recordChats(sioB, room)];
    const acks = await Promise.all([
      wsA.request({ type: 'join', room, after: start.cursor }),
      wsB.request({ type: 'join', room, after: start.cursor }),
      call(sioA, 'room:join', { roomId: room, afterCursor: start.cursor }),
      call(sioB, 'room:join', { roomId: room, afterCursor: start.cursor }),
    ]);
    for (const ack of acks) expect(ack).toMatchObject({ truncated: false });
    await sending;
    const sentinel = await say(sender, room, 'sentinel');
    const expected = [...sent, sentinel.cursor];
    await waitFor(
      () =>
        [wsChats(wsA, room), wsChats(wsB, room), ...sioSeen].every((list) =>
          list.some((m) => m.cursor === sentinel.cursor),
        ),
      { what: 'the sentinel everywhere' },
    );
    for (const list of [wsChats(wsA, room), wsChats(wsB, room), ...sioSeen]) {
      expect(list.map((m) => m.cursor)).toEqual(expected);
    }
  });

  it('replays at most the newest MAX_CHAT_REPLAY messages and says it truncated', async () => {
    const room = 'long_room';
    const cursors: number[] = [];
    const js = await world.js();
    const { subjects, encodeEvent } = await import('@gavel/shared');
    for (const n of range(1, MAX_CHAT_REPLAY + 5)) {
      const e = makeEvent('chat.message', {
        roomId: room,
        userId: 'archive',
        text: `n${n}`,
        clientMsgId: `c${n}`,
      });
      const ack = await js.publish(subjects(world.topology).chat(room), encodeEvent(e), { msgID: e.id });
      cursors.push(ack.seq);
    }
    const reader = await openWs(a, 'long_reader');
    const ack = await reader.request({ type: 'join', room, after: 0 });
    expect(ack).toMatchObject({
      type: 'ack',
      replayed: MAX_CHAT_REPLAY,
      truncated: true,
      cursor: cursors.at(-1),
    });
    expect(wsChats(reader, room).map((m) => m.cursor)).toEqual(cursors.slice(-MAX_CHAT_REPLAY));
  });

  it('refuses bad cursors with a clear error and joins nothing', async () => {
    const room = 'bad_cursor';
    const ws = await openWs(a, 'bad_ws');
    const s = await open(b, 'bad_sio');
    const bad: unknown[] = [-1, '5', 2 ** 60, 1.5, Number.MAX_SAFE_INTEGER + 2, null, true, {}];
    for (const after of bad) {
      const answer = await ws.request({ type: 'join', room, after });
      expect(answer, `after=${JSON.stringify(after)}`).toMatchObject({
        type: 'error',
        for: 'join',
        code: 'invalid_payload',
      });
      expect(String(answer.message)).toMatch(/cursor/);
      const ack = await call<Record<string, unknown>>(s, 'room:join', { roomId: room, afterCursor: after });
      expect(ack, `afterCursor=${JSON.stringify(after)}`).toMatchObject({
        ok: false,
        error: 'invalid_payload',
      });
      expect(String(ack.message)).toMatch(/cursor/);
    }
    // Nothing was joined: sending is refused and nobody is present.
    expect(await ws.request({ type: 'chat', room, message: 'hi' })).toMatchObject({ code: 'not_in_room' });
    expect(await call(s, 'chat:send', { roomId: room, text: 'hi', clientMsgId: 'x' })).toMatchObject({
      ok: false,
      error: 'not_in_room',
    });
    expect(await call(s, 'presence:get', { roomId: room })).toMatchObject({ ok: true, users: [] });
    // A cursor beyond the stream is valid: nothing to replay, the room's real cursor, then live.
    expect(await ws.request({ type: 'join', room, after: Number.MAX_SAFE_INTEGER })).toMatchObject({
      type: 'ack',
      replayed: 0,
      truncated: false,
      cursor: 0,
    });
    await call(s, 'room:join', { roomId: room });
    const sent = await say(s, room, 'after all');
    expect(await ws.next((f) => f.type === 'chat' && f.roomId === room)).toMatchObject({
      cursor: sent.cursor,
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { waitFor } from '@gavel/shared/testing';
import { TestWorld, WsClient, call, connected, sio } from './helpers.js';

/** The seeds' clients as their READMEs use them, unchanged. */
describe("the seeds' clients as written", () => {
  const world = new TestWorld();
  let url = '';
  const sockets: Socket[] = [];
  const clients: WsClient[] = [];
  const ws = async (query: string) => {
    const c = await WsClient.open(url, query);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    ({ url } = await world.startInProcess({ CHAT_RATE_PER_S: '100', EVENT_RATE_PER_S: '500' }));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const c of clients) c.close();
    await world.close();
  });

  it('seed 003: ?userId=&username=&roomId=&token= joins the room at connect; {type: chat, message} goes there', async () => {
    const token = await world.token('testuser1');
    const listener = sio(url, { auth: { token: await world.token('listener') } });
    sockets.push(listener);
    await connected(listener);
    const heard: Array<Record<string, unknown>> = [];
    listener.on('chat', (m: Record<string, unknown>) => heard.push(m));
    await call(listener, 'room:join', { roomId: 'general' });

    const c = await ws(`userId=testuser1&username=TestUser1&roomId=general&token=${token}`);
    expect(await c.next((f) => f.type === 'welcome')).toMatchObject({
      userId: 'testuser1',
      username: 'TestUser1',
      room: 'general',
    });
    await c.next((f) => f.type === 'ack' && f.for === 'join' && f.roomId === 'general');
    c.send({ type: 'chat', message: 'Hello WebSocket!' });
    const ack = await c.next((f) => f.type === 'ack' && f.for === 'chat');
    expect(ack).toMatchObject({ roomId: 'general', id: expect.stringMatching(/^chat_/) });
    await waitFor(() => heard.length === 1, { what: 'the chat at another member' });
    expect(heard[0]).toMatchObject({
      roomId: 'general',
      userId: 'testuser1',
      username: 'TestUser1',
      text: 'Hello WebSocket!',
    });
    // The sender is a member too: its own message comes back as a chat frame.
    await c.next((f) => f.type === 'chat' && f.text === 'Hello WebSocket!' && f.username === 'TestUser1');
  });

  it('chat without a room goes to the room joined last; with none joined, a clear error', async () => {
    const c = await ws(`token=${await world.token('roamer')}`);
    expect(await c.request({ type: 'chat', message: 'anyone?' })).toMatchObject({
      type: 'error',
      for: 'chat',
      code: 'no_room',
      message: 'join a room first, or name one with "room"',
    });
    await c.request({ type: 'join', room: 'first' });
    await c.request({ type: 'join', room: 'second' });
    expect(await c.request({ type: 'chat', message: 'to the second' })).toMatchObject({
      type: 'ack',
      roomId: 'second',
    });
    await c.request({ type: 'leave', room: 'second' });
    expect(await c.request({ type: 'chat', message: 'to the first' })).toMatchObject({
      type: 'ack',
      roomId: 'first',
    });
    // Socket.IO: the same rule, roomId optional, clientMsgId optional.
    const s = sio(url, { auth: { token: await world.token('roamer2') } });
    sockets.push(s);
    await connected(s);
    expect(await call(s, 'chat:send', { text: 'nowhere' })).toMatchObject({
      ok: false,
      error: 'no_room',
      code: 'no_room',
      message: 'join a room first, or name one with "roomId"',
    });
    await call(s, 'room:join', { roomId: 'first' });
    expect(await call(s, 'chat:send', { roomId: 'first', text: 'no clientMsgId' })).toMatchObject({
      ok: true,
      roomId: 'first',
    });
    expect(await call(s, 'chat:send', { text: 'current room' })).toMatchObject({ ok: true, roomId: 'first' });
  });

  it('refuses a userId that is not the token’s, and bad query values, before the upgrade', async () => {
    const token = await world.token('realuser');
    await expect(WsClient.open(url, `userId=someoneelse&token=${token}`)).rejects.toThrow('HTTP 403');
    await expect(WsClient.open(url, `roomId=bad.room&token=${token}`)).rejects.toThrow('HTTP 400');
    await expect(WsClient.open(url, `username=${'x'.repeat(65)}&token=${token}`)).rejects.toThrow('HTTP 400');
    await expect(WsClient.open(url, `username=%00&token=${token}`)).rejects.toThrow('HTTP 400');
    await expect(WsClient.open(url, `deviceId=a%20b&token=${token}`)).rejects.toThrow('HTTP 400');
    const ok = await ws(`userId=realuser&token=${token}`);
    await ok.next((f) => f.type === 'welcome' && f.userId === 'realuser');
  });

  it('errors carry a stable code and a message naming the fields as the client spelled them', async () => {
    const c = await ws(`token=${await world.token('speller')}`);
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ type: 'join' }, 'invalid_payload', '"room" is required'],
      [
        { type: 'join', room: 'a b' },
        'invalid_payload',
        '"room" must be 1-64 characters of A-Z, a-z, 0-9, _ or -',
      ],
      [{ type: 'chat', room: 'x' }, 'invalid_payload', '"message" is required'],
      [{ type: 'chat', message: 42 }, 'invalid_payload', '"message" must be a string'],
      [{ type: 'join', room: 'r', after: -1 }, 'invalid_payload', '"after" must be a chat cursor'],
      [{ type: 'watch', itemId: 'i', afterSeq: 'x' }, 'invalid_payload', '"afterSeq" must be a whole number'],
      [{ type: 'presence' }, 'invalid_payload', '"room" is required'],
      [{ type: 'chat', room: 'notjoined', message: 'hi' }, 'not_in_room', 'join room notjoined first'],
      [{ type: 'teleport' }, 'unknown_event', 'unknown frame type "teleport"'],
    ];
    for (const [frame, code, message] of cases) {
      const answer = await c.request(frame);
      expect(answer, JSON.stringify(frame)).toMatchObject({ type: 'error', code });
      expect(String(answer.message), JSON.stringify(frame)).toContain(message);
      expect(String(answer.message)).not.toMatch(/roomId|✖|→|Invalid input/);
    }
    const s = sio(url, { auth: { token: await world.token('speller2') } });
    sockets.push(s);
    await connected(s);
    expect(await call(s, 'room:join', {})).toMatchObject({
      ok: false,
      code: 'invalid_payload',
      message: '"roomId" is required',
    });
    expect(await call(s, 'chat:send', { roomId: 'r', text: 'bell\u0007' })).toMatchObject({
      ok: false,
      code: 'invalid_payload',
      message: '"text" must not contain control characters (tab and newline are allowed)',
    });
  });

  it('a Socket.IO handshake with a bad username or deviceId is refused with the reason', async () => {
    const token = await world.token('shaker');
    for (const auth of [
      { token, username: 'x'.repeat(65) },
      { token, deviceId: 'a.b' },
      { token, username: 7 },
    ]) {
      const s = sio(url, { auth });
      sockets.push(s);
      const reason = await connected(s).then(
        () => 'connected',
        (err: Error) => err.message,
      );
      expect(reason).toMatch(/^invalid_payload: "(username|deviceId)"/);
    }
  });
});

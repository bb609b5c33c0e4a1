import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { signToken } from '@gavel/shared';
import { waitFor } from '@gavel/shared/testing';
import type { Socket } from 'socket.io-client';
import { TestWorld, WsClient, call, connected, sio } from './helpers.js';

describe('handshake security, bad input and limits', () => {
  const world = new TestWorld();
  let url = '';
  const sockets: Socket[] = [];
  const open = async (userId: string) => {
    const s = sio(url, { auth: { token: await world.token(userId) } });
    sockets.push(s);
    await connected(s);
    return s;
  };

  beforeAll(async () => {
    ({ url } = await world.startInProcess({
      ALLOWED_ORIGINS: 'https://gavel.example',
      CHAT_RATE_PER_S: '3',
      EVENT_RATE_PER_S: '40',
      MAX_ROOMS_PER_CONNECTION: '3',
    }));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await world.close();
  });

  const refusedWith = async (auth: Record<string, unknown>, headers?: Record<string, string>) => {
    const s = sio(url, { auth, ...(headers ? { extraHeaders: headers } : {}) });
    sockets.push(s);
    return connected(s).then(
      () => 'connected',
      (err: Error) => err.message,
    );
  };

  it('refuses Socket.IO handshakes without a valid token', async () => {
    const forged = await signToken('another-secret-of-enough-length', 'mallory');
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setIssuer('gavel')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(world.secret));
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"mallory","iss":"gavel"}').toString('base64url')}.`;
    for (const auth of [
      {},
      { token: '' },
      { token: 'garbage' },
      { token: forged },
      { token: expired },
      { token: none },
      { token: 42 },
      { userId: 'mallory' },
    ]) {
      expect(await refusedWith(auth)).toBe('unauthorized');
    }
    expect(await refusedWith({ token: await world.token('ok-user') })).toBe('connected');
  });

  it('refuses display names with control characters at the handshake', async () => {
    const token = await world.token('named-user');
    expect(await refusedWith({ token, username: 'a\u0000b' })).toMatch(/^invalid_payload: "username"/);
    expect(await refusedWith({ token, username: 'esc\u001b' })).toMatch(/^invalid_payload/);
    await expect(
      WsClient.open(url, `token=${token}&username=${encodeURIComponent('a\u0000b')}`),
    ).rejects.toThrow('HTTP 400');
    expect(await refusedWith({ token, username: 'Zoë 🔨' })).toBe('connected');
  });

  it('refuses browsers from Origins not on the allow-list', async () => {
    const token = await world.token('origin-user');
    expect(await refusedWith({ token }, { origin: 'https://evil.example' })).not.toBe('connected');
    expect(await refusedWith({ token }, { origin: 'https://gavel.example' })).toBe('connected');
    await expect(WsClient.open(url, `token=${token}`, { origin: 'https://evil.example' })).rejects.toThrow(
      'HTTP 403',
    );
  });

  it('answers /ws upgrades without a valid token with 401, and unknown paths with 404', async () => {
    await expect(WsClient.open(url, '')).rejects.toThrow('HTTP 401');
    await expect(WsClient.open(url, 'token=forged.token.value')).rejects.toThrow('HTTP 401');
    await expect(WsClient.open(url, 'userId=mallory')).rejects.toThrow('HTTP 401');
    const ws = await WsClient.open(url, `token=${await world.token('ws-user')}`);
    await ws.next((f) => f.type === 'welcome' && f.userId === 'ws-user');
    ws.close();
  });

  it('answers every malformed Socket.IO event with an error and stays up', async () => {
    const s = await open('prober');
    const cases: Array<[string, unknown, string]> = [
      ['item:watch', undefined, 'invalid_payload'],
      ['item:watch', 'item1', 'invalid_payload'],
      ['item:watch', { itemId: 'bad id with spaces' }, 'invalid_payload'],
      ['item:watch', { itemId: 'x', afterSeq: -1 }, 'invalid_payload'],
      ['item:watch', { itemId: 'x', afterSeq: '3' }, 'invalid_payload'],
      ['item:watch', { itemId: 'a.b.>' }, 'invalid_payload'],
      ['room:join', { roomId: 7 }, 'invalid_payload'],
      ['room:join', [1, 2], 'invalid_payload'],
      // clientMsgId is optional: this one is refused only because the room was not joined.
      ['chat:send', { roomId: 'r', text: 'no id' }, 'not_in_room'],
      ['chat:send', { roomId: 'r', text: '', clientMsgId: 'a' }, 'invalid_payload'],
      ['chat:send', { roomId: 'r', text: '   ', clientMsgId: 'a' }, 'invalid_payload'],
      ['chat:send', { roomId: 'r', text: 'x'.repeat(2001), clientMsgId: 'a' }, 'invalid_payload'],
      ['chat:send', { roomId: 'r', text: 'not joined', clientMsgId: 'a' }, 'not_in_room'],
      ['dm:send', { to: 'x', text: { html: 1 }, clientMsgId: 'a' }, 'invalid_payload'],
      // NUL and the other C0 controls (tab and newline aside) are refused before anything is stored.
      ['chat:send', { roomId: 'r', text: 'a\u0000b' }, 'invalid_payload'],
      ['chat:send', { roomId: 'r', text: 'carriage\rreturn' }, 'invalid_payload'],
      ['chat:send', { roomId: 'r', text: 'lone \ud800' }, 'invalid_payload'],
      ['chat:send', { roomId: 'r', text: 'tab\tand\nnewline are fine' }, 'not_in_room'],
      ['dm:send', { to: 'x', text: 'a\u0000b' }, 'invalid_payload'],
      ['dm:send', { to: 'x', text: 'esc\u001b[2J' }, 'invalid_payload'],
      ['dm:send', { to: 'x\u0000', text: 'hi' }, 'invalid_payload'],
      ['room:join', { roomId: 'r\u0000' }, 'invalid_payload'],
      ['presence:get', null, 'invalid_payload'],
      ['rooms:list', 'please', 'invalid_payload'],
      ['no:such:event', {}, 'unknown_event'],
    ];
    for (const [event, payload, code] of cases) {
      const answer = await call<{ ok: boolean; error: string; message: string }>(s, event, payload);
      expect(answer, `${event} ${JSON.stringify(payload)?.slice(0, 40)}`).toMatchObject({
        ok: false,
        error: code,
      });
      expect(typeof answer.message).toBe('string');
    }
    // No ack callback at all, and a non-function last argument: ignored, no crash.
    s.emit('chat:send', { roomId: 'r' });
    s.emit('item:watch', { itemId: 'x' }, 'not a function');
    expect(s.connected).toBe(true);
    expect(await call(s, 'rooms:list')).toMatchObject({ ok: true });
    expect(await call(s, 'presence:get', { roomId: 'r' })).toMatchObject({ ok: true, users: [] });
  });

  it('closes a Socket.IO client that sends a frame over 16 KiB', async () => {
    const s = await open('big-sender');
    const reason = new Promise<string>((r) => s.once('disconnect', r));
    s.emit('chat:send', { roomId: 'r', text: 'x'.repeat(17 * 1024), clientMsgId: 'big' });
    expect(await reason).toBe('transport close');
  });

  it('answers every malformed /ws frame with an error frame and stays up', async () => {
    const ws = await WsClient.open(url, `token=${await world.token('ws-prober')}`);
    const sent: Array<[unknown, string]> = [
      ['not json', 'not_json'],
      ['[1,2,3]', 'invalid_frame'],
      ['"just a string"', 'invalid_frame'],
      ['null', 'invalid_frame'],
      [{ no: 'type' }, 'unknown_event'],
      [{ type: 'teleport' }, 'unknown_event'],
      [{ type: 42 }, 'unknown_event'],
      [{ type: 'join' }, 'invalid_payload'],
      [{ type: 'join', room: 'a b' }, 'invalid_payload'],
      [{ type: 'chat', room: 'r', message: 'x'.repeat(2001) }, 'invalid_payload'],
      [{ type: 'chat', room: 'r' }, 'invalid_payload'],
      [{ type: 'private', to: 'someone' }, 'invalid_payload'],
      [{ type: 'watch', itemId: 5 }, 'invalid_payload'],
      [{ type: 'chat', room: 'r', message: 'a\u0000b' }, 'invalid_payload'],
      [{ type: 'private', to: 'someone', message: 'bell\u0007' }, 'invalid_payload'],
      [{ type: 'join', room: 'r\u0000' }, 'invalid_payload'],
    ];
    for (const [frame, code] of sent) {
      const before = ws.frames.length;
      ws.send(frame);
      const answer = await waitFor(() => ws.frames.slice(before).find((f) => f.type === 'error'));
      expect(answer, JSON.stringify(frame).slice(0, 40)).toMatchObject({ type: 'error', code });
    }
    ws.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await ws.next((f) => f.type === 'error' && f.code === 'invalid_frame');
    expect(await ws.request({ type: 'rooms' })).toMatchObject({ type: 'rooms' });
    const closed = new Promise<number>((r) => ws.ws.once('close', (code) => r(code)));
    ws.send(JSON.stringify({ type: 'chat', room: 'r', message: 'x'.repeat(17 * 1024) }));
    expect(await closed).toBe(1009);
  });

  it('rate-limits chat per connection and refuses rooms beyond the cap, changing nothing', async () => {
    const s = await open('chatty');
    expect(await call(s, 'room:join', { roomId: 'r1' })).toMatchObject({ ok: true });
    // Sent together so that they fall in one rate window even on a busy machine.
    const answers = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        call<{ ok: boolean; error?: string }>(s, 'chat:send', {
          roomId: 'r1',
          text: `m${i}`,
          clientMsgId: `c${i}`,
        }),
      ),
    );
    expect(answers.filter((a) => a.ok).length).toBeGreaterThanOrEqual(3);
    expect(answers.filter((a) => a.error === 'rate_limited').length).toBeGreaterThanOrEqual(3);

    expect(await call(s, 'room:join', { roomId: 'r2' })).toMatchObject({ ok: true });
    expect(await call(s, 'item:watch', { itemId: 'i1' })).toMatchObject({ ok: true });
    expect(await call(s, 'room:join', { roomId: 'r3' })).toMatchObject({
      ok: false,
      error: 'too_many_rooms',
    });
    expect(await call(s, 'item:watch', { itemId: 'i2' })).toMatchObject({
      ok: false,
      error: 'too_many_rooms',
    });
    const list = await call<{ rooms: Array<{ roomId: string }> }>(s, 'rooms:list');
    expect(list.rooms.map((r) => r.roomId)).not.toContain('r3');
  });

  it('rate-limits client events of any kind', async () => {
    const s = await open('flooder');
    const answers = await Promise.all(
      Array.from({ length: 60 }, () =>
        call<{ ok: boolean; error?: string }>(s, 'presence:get', { roomId: 'x' }),
      ),
    );
    expect(answers.filter((a) => a.error === 'rate_limited').length).toBeGreaterThanOrEqual(20);
    expect(s.connected).toBe(true);
  });
});

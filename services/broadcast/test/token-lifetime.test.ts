import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import { waitFor } from '@gavel/shared/testing';
import { TestWorld, WsClient, call, connected, sio } from './helpers.js';

/** Long enough to connect on a loaded machine, short enough to wait out. */
const SHORT_S = 4;

describe('token lifetime on live connections', () => {
  const world = new TestWorld();
  let url = '';
  const sockets: Socket[] = [];

  beforeAll(async () => {
    ({ url } = await world.startInProcess());
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await world.close();
  });

  /** The `exp` of a token, in ms. */
  const expOf = (token: string) =>
    1000 * (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;

  async function open(userId: string, lifetimeS = SHORT_S) {
    const token = await world.token(userId, lifetimeS);
    const s = sio(url, { auth: { token } });
    sockets.push(s);
    const expired: unknown[] = [];
    s.on('session:expired' as never, (p: unknown) => void expired.push(p));
    const disconnects: string[] = [];
    s.on('disconnect', (reason) => disconnects.push(reason));
    await connected(s);
    return { s, token, expired, disconnects };
  }

  it('Socket.IO: session:expired, then the server disconnects, at the token’s exp', async () => {
    const { s, token, expired, disconnects } = await open('fleeting');
    expect(await call(s, 'room:join', { roomId: 'lobby' })).toMatchObject({ ok: true });
    await waitFor(() => disconnects.length > 0, { timeoutMs: 30_000, what: 'the disconnect' });
    expect(Date.now()).toBeGreaterThanOrEqual(expOf(token));
    expect(expired).toEqual([{ code: 'token_expired', message: expect.any(String) }]);
    expect(disconnects).toEqual(['io server disconnect']);
  });

  it('/ws: an error frame token_expired, then close code 4001', async () => {
    const token = await world.token('fleeting-ws', SHORT_S);
    const client = await WsClient.open(url, `token=${token}`);
    const closed = new Promise<{ code: number; at: number }>((r) =>
      client.ws.once('close', (code) => r({ code, at: Date.now() })),
    );
    const { code, at } = await closed;
    expect(code).toBe(4001);
    expect(at).toBeGreaterThanOrEqual(expOf(token));
    expect(client.frames.at(-1)).toMatchObject({ type: 'error', code: 'token_expired' });
  });

  it('Socket.IO: auth:refresh with a fresh token of the same user keeps the connection past the old exp', async () => {
    const { s, token, expired, disconnects } = await open('renewer');
    const fresh = await world.token('renewer', 3600);
    const ack = await call<{ ok: boolean; userId: string; expiresAt: string }>(s, 'auth:refresh', {
      token: fresh,
    });
    expect(ack).toMatchObject({ ok: true, userId: 'renewer' });
    expect(Date.parse(ack.expiresAt)).toBe(expOf(fresh));
    // Past the first token's end (plus margin), the connection still answers.
    await waitFor(() => Date.now() > expOf(token) + 1500, { timeoutMs: 30_000, what: 'the old exp to pass' });
    expect(await call(s, 'rooms:list')).toMatchObject({ ok: true });
    expect(s.connected).toBe(true);
    expect(expired).toEqual([]);
    expect(disconnects).toEqual([]);
  });

  it('Socket.IO: a refresh with another user’s, a bad or an expired token is refused and changes nothing', async () => {
    const { s, token, expired, disconnects } = await open('stubborn');
    const stale = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('stubborn')
      .setIssuer('gavel')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(world.secret));
    const cases: Array<[unknown, string]> = [
      [{ token: await world.token('someone-else', 3600) }, 'forbidden'],
      [{ token: 'garbage' }, 'unauthorized'],
      [{ token: stale }, 'unauthorized'],
      [{ token: await world.token('stubborn', 3600).then((t) => `${t}x`) }, 'unauthorized'],
      [{ token: '' }, 'invalid_payload'],
      [{ token: 42 }, 'invalid_payload'],
      [{ token: 'x'.repeat(5000) }, 'invalid_payload'],
      [{}, 'invalid_payload'],
      [undefined, 'invalid_payload'],
    ];
    for (const [payload, code] of cases) {
      const ack = await call<{ ok: boolean; code: string; message: string }>(s, 'auth:refresh', payload);
      expect(ack, JSON.stringify(payload)?.slice(0, 60)).toMatchObject({ ok: false, code });
      expect(ack.message.length).toBeGreaterThan(5);
    }
    // Still the same user, still ending at the first token's exp.
    await waitFor(() => disconnects.length > 0, { timeoutMs: 30_000, what: 'the disconnect' });
    expect(Date.now()).toBeGreaterThanOrEqual(expOf(token));
    expect(expired).toHaveLength(1);
  });

  it('/ws: {"type":"auth","token"} refreshes; a token of another user is refused', async () => {
    const token = await world.token('ws-renewer', SHORT_S);
    const client = await WsClient.open(url, `token=${token}`);
    let closedCode: number | undefined;
    client.ws.once('close', (code) => (closedCode = code));
    expect(await client.request({ type: 'auth', token: await world.token('intruder', 3600) })).toMatchObject({
      type: 'error',
      for: 'auth',
      code: 'forbidden',
    });
    expect(await client.request({ type: 'auth', token: 'nope' })).toMatchObject({
      type: 'error',
      code: 'unauthorized',
    });
    expect(await client.request({ type: 'auth' })).toMatchObject({ type: 'error', code: 'invalid_payload' });
    const fresh = await world.token('ws-renewer', 3600);
    const ack = await client.request({ type: 'auth', token: fresh });
    expect(ack).toMatchObject({ type: 'ack', for: 'auth', userId: 'ws-renewer' });
    expect(Date.parse(String(ack.expiresAt))).toBe(expOf(fresh));
    await waitFor(() => Date.now() > expOf(token) + 1500, { timeoutMs: 30_000, what: 'the old exp to pass' });
    expect(await client.request({ type: 'rooms' })).toMatchObject({ type: 'rooms' });
    expect(closedCode).toBeUndefined();
    client.close();
  });

  it('open mode: a connection without a token has no end, one with a token ends with it', async () => {
    const open = await world.startInProcess({ AUTH_MODE: 'open' });
    const anonymous = sio(open.url, { auth: { userId: 'visitor' } });
    sockets.push(anonymous);
    await connected(anonymous);
    const token = await world.token('signed', SHORT_S);
    const signed = sio(open.url, { auth: { token } });
    sockets.push(signed);
    const gone = new Promise<string>((r) => signed.once('disconnect', r));
    await connected(signed);
    expect(await gone).toBe('io server disconnect');
    expect(anonymous.connected).toBe(true);
    expect(await call(anonymous, 'rooms:list')).toMatchObject({ ok: true });
  });
});

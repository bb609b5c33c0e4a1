import { connect as tcpConnect, type Socket as TcpSocket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { makeEvent } from '@gavel/shared';
import { waitFor } from '@gavel/shared/testing';
import { loadBroadcastConfig } from '../src/config.js';
import { TestWorld, WsClient, call, connected, metric, sio } from './helpers.js';

/** Connects a Socket.IO client; resolves with "connected" or the connect_error message. */
async function tryConnect(
  sockets: Socket[],
  url: string,
  auth: Record<string, unknown>,
  extraHeaders?: Record<string, string>,
): Promise<string> {
  const s = sio(url, { auth, ...(extraHeaders ? { extraHeaders } : {}) });
  sockets.push(s);
  return connected(s).then(
    () => 'connected',
    (err: Error) => err.message,
  );
}

/** Opens a /ws client; resolves with it, or with the HTTP status of the refusal. */
async function tryWs(url: string, query: string, headers: Record<string, string> = {}) {
  return WsClient.open(url, query, headers).then(
    (c) => c,
    (err: Error) => err.message,
  );
}

describe('connections per user and per address', () => {
  const world = new TestWorld();
  const sockets: Socket[] = [];
  const wsClients: WsClient[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
    for (const c of wsClients.splice(0)) c.close();
  });
  afterAll(() => world.close());

  it('refuses the connection past MAX_CONNECTIONS_PER_USER, both transports together, and frees the slot on close', async () => {
    const { url } = await world.startInProcess({ MAX_CONNECTIONS_PER_USER: '3' });
    const token = await world.token('greedy');
    expect(await tryConnect(sockets, url, { token })).toBe('connected');
    expect(await tryConnect(sockets, url, { token })).toBe('connected');
    const ws = await tryWs(url, `token=${token}`);
    expect(ws).toBeInstanceOf(WsClient);
    wsClients.push(ws as WsClient);

    expect(await tryConnect(sockets, url, { token })).toBe('too_many_connections');
    expect(await tryWs(url, `token=${token}`)).toBe('HTTP 429');
    // Someone else is not affected.
    expect(await tryConnect(sockets, url, { token: await world.token('modest') })).toBe('connected');

    // One closes: the next one gets in (the slot is given back once the close is seen).
    (ws as WsClient).close();
    await waitFor(async () => (await tryConnect(sockets, url, { token })) === 'connected', {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'a freed slot',
    });
  });

  it('counts a user’s connections across replicas, and a killed replica’s connections stop counting', async () => {
    const a = await world.startInProcess({ MAX_CONNECTIONS_PER_USER: '3' });
    const killed = await world.spawn({ MAX_CONNECTIONS_PER_USER: '3', REPLICA_ID: 'doomed' });
    const token = await world.token('roamer');
    expect(await tryConnect(sockets, killed.url, { token })).toBe('connected');
    expect(await tryConnect(sockets, killed.url, { token })).toBe('connected');
    expect(await tryConnect(sockets, a.url, { token })).toBe('connected');
    expect(await tryConnect(sockets, a.url, { token })).toBe('too_many_connections');
    expect(await tryWs(a.url, `token=${token}`)).toBe('HTTP 429');

    // SIGKILL: no goodbye, but its heartbeat lapses and its two slots come back.
    await killed.kill('SIGKILL');
    await waitFor(async () => (await tryConnect(sockets, a.url, { token })) === 'connected', {
      timeoutMs: 30_000,
      intervalMs: 300,
      what: 'the killed replica’s slots to be given back',
    });
    expect(await tryConnect(sockets, a.url, { token })).toBe('connected');
    expect(await tryConnect(sockets, a.url, { token })).toBe('too_many_connections');
    // A child process starts slowly on a loaded machine.
  }, 180_000);

  it('refuses the connection past MAX_CONNECTIONS_PER_ADDRESS, reading X-Forwarded-For only behind a proxy', async () => {
    const direct = await world.startInProcess({ MAX_CONNECTIONS_PER_ADDRESS: '3' });
    for (const u of ['p1', 'p2', 'p3']) {
      expect(await tryConnect(sockets, direct.url, { token: await world.token(u) })).toBe('connected');
    }
    const fourth = await world.token('p4');
    expect(await tryConnect(sockets, direct.url, { token: fourth })).toBe('too_many_connections');
    expect(await tryWs(direct.url, `token=${fourth}`)).toBe('HTTP 429');
    // Without TRUST_PROXY a forwarded address is the client's own claim: ignored.
    expect(
      await tryConnect(sockets, direct.url, { token: fourth }, { 'x-forwarded-for': '203.0.113.9' }),
    ).toBe('too_many_connections');

    const proxied = await world.startInProcess({ MAX_CONNECTIONS_PER_ADDRESS: '2', TRUST_PROXY: 'true' });
    const via = (address: string) => ({ 'x-forwarded-for': `198.51.100.7, ${address}` });
    for (const u of ['q1', 'q2']) {
      expect(await tryConnect(sockets, proxied.url, { token: await world.token(u) }, via('192.0.2.1'))).toBe(
        'connected',
      );
    }
    // The last entry (what our proxy saw) counts; the made-up first one does not help.
    expect(await tryConnect(sockets, proxied.url, { token: await world.token('q3') }, via('192.0.2.1'))).toBe(
      'too_many_connections',
    );
    expect(await tryWs(proxied.url, `token=${await world.token('q4')}`, via('192.0.2.1'))).toBe('HTTP 429');
    expect(await tryConnect(sockets, proxied.url, { token: await world.token('q5') }, via('192.0.2.2'))).toBe(
      'connected',
    );
  });

  it('validates the limits at start, naming the variable', () => {
    const env = world.env();
    for (const [name, bad] of [
      ['MAX_CONNECTIONS_PER_USER', '0'],
      ['MAX_CONNECTIONS_PER_USER', 'many'],
      ['MAX_CONNECTIONS_PER_ADDRESS', '-5'],
      ['REQUEST_TIMEOUT_S', '0'],
      ['WS_PING_INTERVAL_S', '1.5'],
      ['TRUST_PROXY', 'yes'],
    ] as const) {
      expect(() => loadBroadcastConfig({ ...env, [name]: bad }), `${name}=${bad}`).toThrow(new RegExp(name));
    }
    const defaults = loadBroadcastConfig({ AUTH_MODE: 'open' });
    expect(defaults).toMatchObject({
      MAX_CONNECTIONS_PER_USER: 20,
      MAX_CONNECTIONS_PER_ADDRESS: 200,
      REQUEST_TIMEOUT_S: 10,
      WS_PING_INTERVAL_S: 25,
      TRUST_PROXY: false,
    });
  });
});

describe('clients that stop reading', () => {
  const world = new TestWorld();
  afterAll(() => world.close());

  /** Publishes large chat messages to `roomId` until `stop()` says enough (or 3,000 went out). */
  async function flood(roomId: string, stop: () => boolean): Promise<number> {
    const text = 'x'.repeat(2000);
    let sent = 0;
    while (!stop() && sent < 3000) {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          world.publish(
            makeEvent('chat.message', { roomId, userId: 'flooder', text, clientMsgId: `f${sent + i}` }),
          ),
        ),
      );
      sent += 50;
    }
    return sent;
  }

  // A client that does not read does not see the server's close either (the FIN waits behind the
  // bytes it does not read): the server's own count tells.
  const cutFor = (url: string, reason: string) => () =>
    metric(url, 'gavel_broadcast_drops_total', { reason }).then((n) => n >= 1);
  const connections = (url: string, transport: string) =>
    metric(url, 'gavel_broadcast_connections', { transport });

  it('cuts a /ws client whose unsent bytes pile up', async () => {
    // Pings far apart: only the buffer check can cut it here.
    const { url } = await world.startInProcess({
      WS_MAX_BUFFERED_BYTES: '16384',
      WS_PING_INTERVAL_S: '3600',
    });
    const client = await WsClient.open(url, `token=${await world.token('sleepy-ws')}`);
    expect(await client.request({ type: 'join', room: 'flood-ws' })).toMatchObject({ type: 'ack' });
    (client.ws as unknown as { _socket: TcpSocket })._socket.pause();
    let cut = false;
    const watching = waitFor(cutFor(url, 'slow_consumer'), { timeoutMs: 60_000, what: 'the cut' }).then(
      () => (cut = true),
    );
    await flood('flood-ws', () => cut);
    await watching;
    await waitFor(async () => (await connections(url, 'ws')) === 0, {
      timeoutMs: 20_000,
      what: 'no ws left',
    });
    client.ws.terminate();
  }, 90_000);

  it('cuts a Socket.IO client whose unsent bytes pile up', async () => {
    const { url } = await world.startInProcess({ WS_MAX_BUFFERED_BYTES: '16384' });
    const s = sio(url, { auth: { token: await world.token('sleepy-sio') } });
    await connected(s);
    expect(await call(s, 'room:join', { roomId: 'flood-sio' })).toMatchObject({ ok: true });
    // The client's own WebSocket under engine.io: stop reading from it.
    const transport = (s.io.engine as unknown as { transport: { ws: WebSocket } }).transport;
    (transport.ws as unknown as { _socket: TcpSocket })._socket.pause();
    let cut = false;
    const watching = waitFor(cutFor(url, 'slow_consumer'), { timeoutMs: 60_000, what: 'the cut' }).then(
      () => (cut = true),
    );
    await flood('flood-sio', () => cut);
    await watching;
    await waitFor(async () => (await connections(url, 'socketio')) === 0, {
      timeoutMs: 20_000,
      what: 'no Socket.IO client left',
    });
    transport.ws.terminate();
    s.close();
  }, 90_000);

  it('cuts a /ws client that answers no ping, even with nothing to send it', async () => {
    const { url } = await world.startInProcess({ WS_PING_INTERVAL_S: '1' });
    const reading = await WsClient.open(url, `token=${await world.token('awake')}`);
    const sleeping = await WsClient.open(url, `token=${await world.token('asleep')}`);
    (sleeping.ws as unknown as { _socket: TcpSocket })._socket.pause();
    await waitFor(cutFor(url, 'ping_timeout'), { timeoutMs: 30_000, what: 'the cut' });
    await waitFor(async () => (await connections(url, 'ws')) === 1, {
      timeoutMs: 20_000,
      what: 'one ws left',
    });
    // The one that reads (and so answers pings) stays.
    expect(reading.ws.readyState).toBe(WebSocket.OPEN);
    expect(await reading.request({ type: 'rooms' })).toMatchObject({ type: 'rooms' });
    reading.close();
    sleeping.ws.terminate();
  });

  it('answers a request that trickles in with 408 (REQUEST_TIMEOUT_S)', async () => {
    const { url } = await world.startInProcess({ REQUEST_TIMEOUT_S: '1' });
    const { port } = new URL(url);
    const answer = await new Promise<string>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port: Number(port) });
      let received = '';
      let drip: NodeJS.Timeout | undefined;
      socket.on('connect', () => {
        socket.write('GET /ws?token=x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Slow: ');
        drip = setInterval(() => socket.writable && socket.write('y'), 300);
      });
      socket.on('data', (d) => (received += d.toString('utf8')));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(drip);
        resolve(received);
      });
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });
});

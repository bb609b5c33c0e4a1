import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { REPO_ROOT, freePort, spawnService } from '@gavel/shared/testing';
import { startEchoServer } from './support/echo-servers.js';

const ENTRY = 'services/latency/src/main.ts';

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data: Buffer, isBinary) => resolve({ data, isBinary })),
  );
}

function closeOf(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

async function metricValue(port: number, name: string, protocol: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const match = new RegExp(`^${name}\\{protocol="${protocol.replace('.', '\\.')}"[^}]*\\} (\\S+)$`, 'm').exec(
    text,
  );
  return Number(match?.[1]);
}

describe('echo server', () => {
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  beforeAll(async () => {
    echo = await startEchoServer({ maxPayload: 1024 });
  });
  afterAll(() => echo.close());

  it('echoes text and binary frames unchanged, keeping their type, and counts them', async () => {
    const before = await metricValue(echo.port, 'gavel_latency_echo_messages_total', 'ws');
    const bytesBefore = await metricValue(echo.port, 'gavel_latency_echo_bytes_total', 'ws');
    const ws = await openSocket(`ws://127.0.0.1:${echo.port}/echo`);
    expect(await metricValue(echo.port, 'gavel_latency_echo_connections', 'ws')).toBe(1);

    let reply = nextMessage(ws);
    ws.send('héllo wörld');
    expect(await reply).toEqual({ data: Buffer.from('héllo wörld'), isBinary: false });

    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    reply = nextMessage(ws);
    ws.send(bytes);
    expect(await reply).toEqual({ data: bytes, isBinary: true });

    expect(await metricValue(echo.port, 'gavel_latency_echo_messages_total', 'ws')).toBe(before + 2);
    expect(await metricValue(echo.port, 'gavel_latency_echo_bytes_total', 'ws')).toBe(
      bytesBefore + Buffer.byteLength('héllo wörld') + 5,
    );
    const closed = closeOf(ws);
    ws.close();
    await closed;
  });

  it('closes a connection that sends a frame above MAX_PAYLOAD with 1009 and echoes nothing', async () => {
    const before = await metricValue(echo.port, 'gavel_latency_echo_messages_total', 'ws');
    const ws = await openSocket(`ws://127.0.0.1:${echo.port}/echo`);
    const closed = closeOf(ws);
    ws.on('error', () => undefined);
    ws.send(Buffer.alloc(2048));
    expect(await closed).toBe(1009);
    expect(await metricValue(echo.port, 'gavel_latency_echo_messages_total', 'ws')).toBe(before);
  });

  it('refuses upgrades on other paths with 404', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${echo.port}/elsewhere`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('opened')));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(404);
  });

  it('answers Socket.IO `echo` through the ack and ignores it without one', async () => {
    const socket = io(`http://127.0.0.1:${echo.port}/echo`, { transports: ['websocket'], forceNew: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      const before = await metricValue(echo.port, 'gavel_latency_echo_messages_total', 'socket.io');
      socket.emit('echo', 'no ack wanted');
      const reply: unknown = await socket.timeout(5000).emitWithAck('echo', Buffer.from('abc'));
      expect(Buffer.from(reply as Uint8Array).toString()).toBe('abc');
      expect(await socket.timeout(5000).emitWithAck('echo', { text: 'json too' })).toEqual({
        text: 'json too',
      });
      expect(await metricValue(echo.port, 'gavel_latency_echo_messages_total', 'socket.io')).toBe(before + 2);
    } finally {
      socket.close();
    }
  });

  it('serves /livez and /readyz', async () => {
    expect((await fetch(`http://127.0.0.1:${echo.port}/livez`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${echo.port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true });
  });

  it('tells connected clients to go (1001) when it closes', async () => {
    const own = await startEchoServer();
    const ws = await openSocket(`ws://127.0.0.1:${own.port}/echo`);
    const closed = closeOf(ws);
    await own.close();
    expect(await closed).toBe(1001);
  });
});

describe('echo server process (src/main.ts)', () => {
  it('starts from its environment, serves /echo without Socket.IO when SOCKETIO_ECHO=false, stops on SIGTERM', async () => {
    const port = await freePort();
    const service = await spawnService(
      ENTRY,
      { PORT: String(port), HOST: '127.0.0.1', SOCKETIO_ECHO: 'false' },
      { port },
    );
    try {
      const ws = await openSocket(`ws://127.0.0.1:${port}/echo`);
      const reply = nextMessage(ws);
      ws.send('ping');
      expect((await reply).data.toString()).toBe('ping');
      ws.close();
      const polling = await fetch(`http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`);
      expect(polling.status).toBe(404);
    } finally {
      expect(await service.kill('SIGTERM')).toBe(0);
    }
  });

  it('refuses a bad variable, naming it, with exit 2 as every service does', async () => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', ENTRY], {
      cwd: REPO_ROOT,
      env: { ...process.env, PORT: '8090', SOCKETIO_ECHO: 'yes', MAX_PAYLOAD: '12' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(2);
    expect(output).toMatch(/^latency: invalid configuration:/);
    expect(output).toMatch(/SOCKETIO_ECHO: must be "true" or "false"/);
    expect(output).toMatch(/MAX_PAYLOAD: must be an integer/);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Server } from 'socket.io';
import { io as ioClient } from 'socket.io-client';
import WebSocket, { WebSocketServer } from 'ws';
import { waitFor } from '@gavel/shared/testing';
import { WeightedProxy } from '../dev-stack/weighted-proxy.mjs';

/** A stand-in broadcast colour: /readyz as it is told, Socket.IO that names itself, /ws likewise. */
class Colour {
  ready = true;
  readonly http: HttpServer;
  readonly io: Server;
  readonly wss: WebSocketServer;
  url = '';

  constructor(readonly name: 'blue' | 'green') {
    this.http = createServer((req, res) => {
      if (req.url === '/readyz') {
        res.writeHead(this.ready ? 200 : 503).end();
        return;
      }
      if (!req.url?.startsWith('/socket.io/')) res.writeHead(404).end();
    });
    this.io = new Server(this.http, { path: '/socket.io' });
    this.io.on('connection', (socket) => socket.on('whoami', (ack: (c: string) => void) => ack(this.name)));
    this.wss = new WebSocketServer({ noServer: true });
    this.http.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/ws')) return;
      this.wss.handleUpgrade(req, socket, head, (ws) => ws.send(this.name));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', r));
    const address = this.http.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((r) => this.io.close(() => r()));
  }
}

/** Where a new /ws connection through the proxy lands. */
function landing(proxyUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${proxyUrl.replace('http', 'ws')}/ws`);
    ws.once('message', (data) => {
      resolve(String(data));
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

async function landings(proxyUrl: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const colour = await landing(proxyUrl);
    counts[colour] = (counts[colour] ?? 0) + 1;
  }
  return counts;
}

describe('the local blue/green proxy', () => {
  const blue = new Colour('blue');
  const green = new Colour('green');
  const dir = mkdtempSync(join(tmpdir(), 'gavel-weights-'));
  const weightsFile = join(dir, 'weights.json');
  const log: string[] = [];
  const drained: string[] = [];
  let proxy: WeightedProxy;
  let url = '';

  const put = (body: string) =>
    fetch(`${url}/__gavel/weights`, { method: 'PUT', body }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as Record<string, unknown>,
    }));
  const weights = async () =>
    ((await (await fetch(`${url}/__gavel/proxy`)).json()) as { weights: { blue: number; green: number } })
      .weights;

  beforeAll(async () => {
    await Promise.all([blue.listen(), green.listen()]);
    writeFileSync(weightsFile, JSON.stringify({ blue: 100, green: 0 }));
    proxy = new WeightedProxy({
      blue: blue.url,
      green: green.url,
      weightsFile,
      log: (l) => log.push(l),
      probeMs: 50,
      drain: (colour) => {
        drained.push(colour);
        return colour === 'blue';
      },
    });
    url = `http://127.0.0.1:${await proxy.listen(0)}`;
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([blue.close(), green.close()]);
  });

  it('sends new sessions by weight and follows a change at once', async () => {
    expect(await landings(url, 20)).toEqual({ blue: 20 });
    expect(await put(JSON.stringify({ blue: 0, green: 100 }))).toEqual({
      status: 200,
      body: { blue: 0, green: 100 },
    });
    expect(await landings(url, 20)).toEqual({ green: 20 });
    await put(JSON.stringify({ blue: 50, green: 50 }));
    // 200 fair coin flips all landing on one side: 2^-199.
    const split = await landings(url, 200);
    expect(split.blue).toBeGreaterThan(0);
    expect(split.green).toBeGreaterThan(0);
    expect(split.blue! + split.green!).toBe(200);
  });

  it('gives a colour that is not ready (draining) no new session, whatever its weight', async () => {
    await put(JSON.stringify({ blue: 100, green: 0 }));
    blue.ready = false;
    try {
      await waitFor(async () => (await landing(url)) === 'green', { what: 'blue out', timeoutMs: 20_000 });
      expect(await landings(url, 20)).toEqual({ green: 20 });
      green.ready = false;
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 503, { what: 'no colour ready' });
      await expect(landing(url)).rejects.toThrow('HTTP 503');
    } finally {
      blue.ready = true;
      green.ready = true;
    }
    await waitFor(async () => (await landing(url)) === 'blue', { what: 'blue back', timeoutMs: 20_000 });
  });

  it('keeps each Socket.IO long-polling session on the colour of its handshake', async () => {
    await put(JSON.stringify({ blue: 50, green: 50 }));
    const clients = Array.from({ length: 16 }, () =>
      ioClient(url, { path: '/socket.io', transports: ['polling'], forceNew: true, reconnection: false }),
    );
    try {
      await Promise.all(
        clients.map(
          (c) =>
            new Promise<void>((resolve, reject) => {
              c.once('connect', () => resolve());
              c.once('connect_error', reject);
            }),
        ),
      );
      const seen = new Set<string>();
      for (const c of clients) {
        // Every request after the handshake must reach the server that holds the session.
        const answers = await Promise.all(
          Array.from({ length: 5 }, () => c.timeout(10_000).emitWithAck('whoami') as Promise<string>),
        );
        expect(new Set(answers).size).toBe(1);
        seen.add(answers[0]!);
      }
      expect(clients.every((c) => c.connected)).toBe(true);
      // 16 handshakes all on one colour at 50/50: 2^-15.
      expect(seen).toEqual(new Set(['blue', 'green']));
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('follows the weights file live and ignores a bad one', async () => {
    writeFileSync(weightsFile, JSON.stringify({ blue: 30, green: 70 }));
    await waitFor(async () => (await weights()).green === 70, { what: 'the file read', timeoutMs: 20_000 });
    writeFileSync(weightsFile, JSON.stringify({ blue: 30, green: 80 }));
    await waitFor(() => log.some((l) => l.startsWith(`ignoring ${weightsFile}`)), {
      what: 'the refusal logged',
    });
    expect(await weights()).toEqual({ blue: 30, green: 70 });
  });

  it('refuses bad weights and changes nothing', async () => {
    await put(JSON.stringify({ blue: 40, green: 60 }));
    for (const body of [
      '',
      'nope',
      '{}',
      '{"blue":50}',
      '{"blue":50,"green":40}',
      '{"blue":-10,"green":110}',
      '{"blue":50.5,"green":49.5}',
      '{"blue":"50","green":"50"}',
      'null',
      '[]',
    ]) {
      const answer = await put(body);
      expect(answer.status, body).toBe(400);
      expect(answer.body.error).toBe('invalid_request');
    }
    expect(await weights()).toEqual({ blue: 40, green: 60 });
  });

  it('drains a colour through its supervisor on POST /__gavel/drain/<colour>', async () => {
    const drain = (colour: string, method = 'POST') => fetch(`${url}/__gavel/drain/${colour}`, { method });
    expect((await drain('blue')).status).toBe(202);
    expect((await drain('green')).status).toBe(409);
    expect(drained).toEqual(['blue', 'green']);
    // Anything else is passed to the colours (which know no such path).
    expect((await drain('red')).status).toBe(404);
    expect(drained).toEqual(['blue', 'green']);
  });
});

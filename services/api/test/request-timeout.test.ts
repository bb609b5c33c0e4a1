import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupNames, http, startApi, testNames, type TestApi } from './helpers.js';

/**
 * A slow client (slowloris): sends the start of a request, then a byte now and then, never the
 * whole of it. Resolves with what the server sent back once it closed the connection.
 */
function slowClient(url: string, start: string, dripMs = 300): { done: Promise<string>; socket: Socket } {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  let received = '';
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<string>((resolve) => {
    socket.on('connect', () => {
      socket.write(start);
      timer = setInterval(() => socket.writable && socket.write('x'), dripMs);
    });
    socket.on('data', (d) => (received += d.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(received);
    });
  });
  return { done, socket };
}

const slowBody =
  'POST /api/v1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{';
const slowHeaders = 'GET /api/v1/items HTTP/1.1\r\nHost: x\r\nX-Slow: ';

describe('request deadline (REQUEST_TIMEOUT_S)', () => {
  const names = testNames();
  let api: TestApi | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await api?.close();
    await cleanupNames(names);
  });

  it('answers a body that trickles in with 408 and closes the connection', async () => {
    api = await startApi(names, { REQUEST_TIMEOUT_S: '1' });
    const client = slowClient(api.url, slowBody);
    sockets.push(client.socket);
    const answer = await client.done;
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"error":"request_timeout"');
    // The server is still fine for everyone else.
    expect((await http(api.url, 'GET', '/api/v1/items')).status).toBe(200);
  });

  it('answers headers that trickle in with 408 and closes the connection', async () => {
    api = await startApi(names, { REQUEST_TIMEOUT_S: '1' });
    const client = slowClient(api.url, slowHeaders);
    sockets.push(client.socket);
    const answer = await client.done;
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('does not wait for slow clients at shutdown, and answers the requests being served', async () => {
    // A deadline far beyond the test's own wait: close() must not be waiting it out.
    api = await startApi(names, { REQUEST_TIMEOUT_S: '600' });
    const clients = Array.from({ length: 20 }, (_, i) =>
      slowClient(api!.url, i % 2 ? slowBody : slowHeaders),
    );
    sockets.push(...clients.map((c) => c.socket));
    // Every slow client is connected and has sent its first bytes.
    await Promise.all(
      clients.map(
        (c) => new Promise((r) => (c.socket.readyState === 'open' ? r(null) : c.socket.once('connect', r))),
      ),
    );
    const keptAlive = await http(api.url, 'GET', '/api/v1/items');
    expect(keptAlive.status).toBe(200);
    const started = Date.now();
    await api.close();
    api = undefined;
    // All cut, none answered with a made-up response.
    const answers = await Promise.all(clients.map((c) => c.done));
    expect(answers.every((a) => a === '')).toBe(true);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('refuses a REQUEST_TIMEOUT_S that is not a whole number of seconds from 1', async () => {
    const { loadApiConfig } = await import('../src/config.js');
    for (const bad of ['0', '-1', '1.5', 'ten']) {
      expect(() => loadApiConfig({ AUTH_MODE: 'open', REQUEST_TIMEOUT_S: bad }), bad).toThrow(
        /REQUEST_TIMEOUT_S/,
      );
    }
    expect(loadApiConfig({ AUTH_MODE: 'open' }).REQUEST_TIMEOUT_S).toBe(10);
  });
});

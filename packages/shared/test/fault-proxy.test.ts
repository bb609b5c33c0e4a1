import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy, waitFor } from '../src/testing.js';

/** A line echo server: answers every line with `echo <line>`. */
function echoServer(): Promise<{ server: Server; port: number; received: string[] }> {
  const received: string[] = [];
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        received.push(line);
        s.write(`echo ${line}\n`);
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0, received });
    }),
  );
}

function client(port: number): Promise<{ socket: Socket; lines: string[]; closed: () => boolean }> {
  const lines: string[] = [];
  let closed = false;
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  socket.on('close', () => (closed = true));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve({ socket, lines, closed: () => closed }));
    socket.once('error', reject);
  });
}

describe('FaultProxy', () => {
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let proxy: FaultProxy;
  beforeAll(async () => {
    echo = await echoServer();
    proxy = await FaultProxy.start({ port: echo.port });
  });
  afterAll(async () => {
    await proxy.close();
    await new Promise((r) => echo.server.close(r));
  });

  it('passes bytes both ways, then resets every connection on cut and refuses new ones', async () => {
    const c = await client(proxy.port);
    c.socket.write('one\n');
    await waitFor(() => c.lines.includes('echo one'), { what: 'echo through the proxy' });
    proxy.cut();
    await waitFor(() => c.closed(), { what: 'the cut connection to close' });
    // A new connection is reset at once, before or just after it is reported connected.
    const refused = connect(proxy.port, '127.0.0.1');
    const outcome = await new Promise<string>((resolve) => {
      refused.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      refused.once('close', () => resolve('closed'));
    });
    expect(['ECONNRESET', 'closed']).toContain(outcome);
    proxy.restore();
    const again = await client(proxy.port);
    again.socket.write('two\n');
    await waitFor(() => again.lines.includes('echo two'), { what: 'echo after restore' });
    again.socket.destroy();
  });

  it('stalls both ways and delivers what waited, in order, after restore', async () => {
    const c = await client(proxy.port);
    await waitFor(() => proxy.connections > 0, { what: 'the link' });
    proxy.stall();
    c.socket.write('held1\nheld2\n');
    await waitFor(() => proxy.heldBytes > 0, { what: 'the proxy to hold the lines' });
    expect(echo.received).not.toContain('held1');
    proxy.restore();
    await waitFor(() => c.lines.includes('echo held2'), { what: 'held lines answered' });
    expect(c.lines.filter((l) => l.startsWith('echo held'))).toEqual(['echo held1', 'echo held2']);
    expect(c.closed()).toBe(false);
    c.socket.destroy();
  });

  it('lets requests through but holds the answers back while holding replies', async () => {
    const c = await client(proxy.port);
    await waitFor(() => proxy.connections > 0, { what: 'the link' });
    proxy.holdReplies();
    c.socket.write('asked\n');
    await waitFor(() => echo.received.includes('asked'), { what: 'the request to land' });
    expect(c.lines).not.toContain('echo asked');
    proxy.restore();
    await waitFor(() => c.lines.includes('echo asked'), { what: 'the held answer' });
    c.socket.destroy();
  });
});

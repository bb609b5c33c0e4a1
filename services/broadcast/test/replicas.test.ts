import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type ServiceProcess } from '@gavel/shared/testing';
import type { Socket } from 'socket.io-client';
import { TestBalancer, TestWorld, call, connected, range, sio } from './helpers.js';

/**
 * A client that resumes the way the README tells clients to: on every (re)connect it watches
 * again with the last seq it has. It records exactly what it received, duplicates included.
 */
function resumingWatcher(url: string, token: string, itemId: string) {
  const seqs: number[] = [];
  const socket = sio(url, { auth: { token }, reconnection: true });
  let watches = 0;
  socket.on('bid', (b: { seq: number }) => seqs.push(b.seq));
  socket.on('connect', () => {
    watches++;
    socket.emit('item:watch', { itemId, afterSeq: seqs[seqs.length - 1] ?? 0 }, () => undefined);
  });
  return { socket, seqs, watches: () => watches };
}

describe('three replicas', () => {
  const world = new TestWorld();
  let replicas: ServiceProcess[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    replicas = await Promise.all(['r0', 'r1', 'r2'].map((id) => world.spawn({ REPLICA_ID: id })));
  }, 90_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    await world.close();
  });

  it('300 watchers spread over 3 replicas each get all 100 bids once, in order', async () => {
    const itemId = 'fanout';
    const watchers = await Promise.all(
      range(0, 299).map(async (i) => {
        const socket = sio(replicas[i % 3]!.url, { auth: { token: await world.token(`w${i}`) } });
        sockets.push(socket);
        const seqs: number[] = [];
        socket.on('bid', (b: { seq: number }) => seqs.push(b.seq));
        await connected(socket);
        expect(await call(socket, 'item:watch', { itemId })).toMatchObject({ ok: true });
        return seqs;
      }),
    );
    for (const seq of range(1, 100)) await world.publishBid(itemId, seq);
    await waitFor(() => watchers.every((s) => s.length >= 100), {
      timeoutMs: 30_000,
      what: 'all bids everywhere',
    });
    await new Promise((r) => setTimeout(r, 300));
    for (const seqs of watchers) expect(seqs).toEqual(range(1, 100));
    for (const s of sockets.splice(0)) s.close();
  }, 60_000);

  it('SIGKILL of a replica under live bids: its clients resume elsewhere with every bid once; presence heals', async () => {
    const itemId = 'killed';
    const balancer = new TestBalancer(() => replicas.map((r) => r.url));
    await balancer.start();
    world.defer(() => balancer.close());
    const clients = await Promise.all(
      range(0, 29).map(async (i) => {
        const c = resumingWatcher(balancer.url, await world.token(`k${i}`), itemId);
        sockets.push(c.socket);
        await connected(c.socket);
        return c;
      }),
    );
    // A chat member pinned to the replica about to die, and an observer elsewhere.
    const ghost = sio(replicas[0]!.url, { auth: { token: await world.token('ghost') } });
    const observer = sio(replicas[1]!.url, { auth: { token: await world.token('observer') } });
    sockets.push(ghost, observer);
    await Promise.all([connected(ghost), connected(observer)]);
    const leaves: string[] = [];
    observer.on(
      'presence',
      (p: { userId: string; state: string }) => p.state === 'leave' && leaves.push(p.userId),
    );
    await call(ghost, 'room:join', { roomId: 'haunted' });
    await call(observer, 'room:join', { roomId: 'haunted' });
    expect(await call(observer, 'presence:get', { roomId: 'haunted' })).toMatchObject({
      users: ['ghost', 'observer'],
    });
    await waitFor(() => clients.every((c) => c.watches() >= 1));

    for (const seq of range(1, 100)) {
      if (seq === 40) await replicas[0]!.kill('SIGKILL');
      await world.publishBid(itemId, seq);
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor(() => clients.every((c) => c.seqs.length >= 100), {
      timeoutMs: 30_000,
      what: 'every client to catch up',
    });
    await new Promise((r) => setTimeout(r, 300));
    for (const c of clients) expect(c.seqs).toEqual(range(1, 100));
    const resumed = clients.filter((c) => c.watches() > 1).length;
    expect(resumed).toBeGreaterThan(0);

    await waitFor(() => leaves.includes('ghost'), { timeoutMs: 20_000, what: 'the ghost to be swept' });
    expect(await call(observer, 'presence:get', { roomId: 'haunted' })).toMatchObject({
      users: ['observer'],
    });
  }, 90_000);
});

describe('blue/green drain', () => {
  const world = new TestWorld();
  const sockets: Socket[] = [];
  afterAll(async () => {
    for (const s of sockets) s.close();
    await world.close();
  });

  it('SIGTERM on blue moves every client to green with zero lost and zero duplicated bids', async () => {
    const blue = await world.spawn({ REPLICA_ID: 'blue-0', BROADCAST_COLOR: 'blue' });
    const backends = [blue.url];
    const balancer = new TestBalancer(() => backends);
    await balancer.start();
    world.defer(() => balancer.close());
    const itemId = 'bluegreen';
    const reconnectMs: number[] = [];
    const clients = await Promise.all(
      range(0, 39).map(async (i) => {
        const c = resumingWatcher(balancer.url, await world.token(`d${i}`), itemId);
        const colors: string[] = [];
        c.socket.on('session', (s: { color: string }) => colors.push(s.color));
        c.socket.on('server:draining', ({ reconnectInMs }: { reconnectInMs: number }) => {
          const started = performance.now();
          setTimeout(() => {
            c.socket.once('connect', () => reconnectMs.push(performance.now() - started));
            // Closing the transport (not socket.disconnect()) keeps the session recoverable.
            c.socket.io.engine.close();
          }, reconnectInMs);
        });
        sockets.push(c.socket);
        await connected(c.socket);
        return { ...c, colors };
      }),
    );
    const green = await world.spawn({ REPLICA_ID: 'green-0', BROADCAST_COLOR: 'green' });
    backends.push(green.url);
    await waitFor(() => clients.every((c) => c.colors.length === 1 && c.watches() === 1));
    expect(clients.every((c) => c.colors[0] === 'blue')).toBe(true);

    let blueExit: Promise<number | null> | undefined;
    for (const seq of range(1, 80)) {
      if (seq === 20) blueExit = blue.kill('SIGTERM');
      await world.publishBid(itemId, seq);
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(await blueExit).toBe(0);
    await waitFor(() => clients.every((c) => c.seqs.length >= 80), {
      timeoutMs: 30_000,
      what: 'clients on green',
    });
    await new Promise((r) => setTimeout(r, 300));
    for (const c of clients) {
      expect(c.seqs).toEqual(range(1, 80));
      expect(c.colors.at(-1)).toBe('green');
    }
    const metrics = await (await fetch(`${green.url}/metrics`)).text();
    const recovered = /broadcast_recoveries_total\{result="success"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? '0';
    reconnectMs.sort((a, b) => a - b);
    console.log(
      `drain: ${clients.length} clients moved blue -> green; reconnect after the drain notice (incl. jitter) ` +
        `p50 ${reconnectMs[Math.floor(reconnectMs.length / 2)]?.toFixed(0)} ms, max ${reconnectMs.at(-1)?.toFixed(0)} ms; ` +
        `Socket.IO sessions recovered on green: ${recovered}`,
    );
  }, 90_000);
});

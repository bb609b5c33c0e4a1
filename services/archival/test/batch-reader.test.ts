import { afterEach, describe, expect, it } from 'vitest';
import { AckPolicy, connect, type NatsConnection } from 'nats';
import { ensureStreams, subjects, type Topology } from '@gavel/shared';
import { dropTopology, testTopology, TEST_NATS_URL, waitFor } from '@gavel/shared/testing';
import { BatchReader } from '../src/batch-reader.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A stream of its own holding `n` messages, and a durable consumer on it. */
async function streamWith(n: number): Promise<{ nc: NatsConnection; topology: Topology }> {
  const topology = testTopology();
  const nc = await connect({ servers: TEST_NATS_URL });
  cleanups.push(async () => {
    await nc.close();
    await dropTopology(topology);
  });
  const jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, topology);
  await jsm.consumers.add(topology.stream, {
    durable_name: 'reader',
    ack_policy: AckPolicy.Explicit,
    filter_subject: subjects(topology).all,
    // Long enough that only a nak brings a message back within the test.
    ack_wait: 120_000_000_000,
  });
  await publish(nc, topology, 0, n);
  return { nc, topology };
}

async function publish(nc: NatsConnection, topology: Topology, from: number, n: number) {
  const js = nc.jetstream();
  for (let i = from; i < from + n; i += 1)
    await js.publish(subjects(topology).chat('r'), new TextEncoder().encode(`m${i}`));
}

async function open(nc: NatsConnection, topology: Topology, batchSize: number, maxWaitMs: number) {
  const consumer = await nc.jetstream().consumers.get(topology.stream, 'reader');
  const reader = await BatchReader.open(consumer, { batchSize, maxWaitMs, prefetchBatches: 2 });
  cleanups.push(() => reader.close());
  return reader;
}

const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe('BatchReader', () => {
  it('hands a full batch over at once, in stream order, without waiting for the deadline', async () => {
    const { nc, topology } = await streamWith(25);
    // A deadline far beyond any slowness of the machine: only a full batch ends the wait early.
    const reader = await open(nc, topology, 10, 60_000);
    const started = Date.now();
    const batches = [];
    for (let i = 0; i < 2; i += 1) batches.push(await reader.next(AbortSignal.timeout(120_000)));
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(batches.map((b) => b.map((m) => text(m.data)))).toEqual([
      Array.from({ length: 10 }, (_, i) => `m${i}`),
      Array.from({ length: 10 }, (_, i) => `m${i + 10}`),
    ]);
    for (const b of batches) for (const m of b) m.ack();
  });

  it('hands a partial batch over once the wait after its first message is over', async () => {
    const { nc, topology } = await streamWith(3);
    const reader = await open(nc, topology, 100, 300);
    const started = Date.now();
    const batch = await reader.next(AbortSignal.timeout(120_000));
    expect(batch.map((m) => text(m.data))).toEqual(['m0', 'm1', 'm2']);
    // It waited for more, as long as it was told to (timers may fire a little early).
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    for (const m of batch) m.ack();
    // Messages published later make the next batch.
    await publish(nc, topology, 3, 2);
    const next = await reader.next(AbortSignal.timeout(120_000));
    expect(next.map((m) => text(m.data))).toEqual(['m3', 'm4']);
  });

  it('returns an empty batch as soon as the signal aborts', async () => {
    const { nc, topology } = await streamWith(0);
    const reader = await open(nc, topology, 10, 50);
    const controller = new AbortController();
    const pending = reader.next(controller.signal);
    setTimeout(() => controller.abort(), 100);
    expect(await pending).toEqual([]);
  });

  it('hands prefetched messages back on close, so they are redelivered at once', async () => {
    const { nc, topology } = await streamWith(30);
    const reader = await open(nc, topology, 10, 50);
    const first = await reader.next(AbortSignal.timeout(120_000));
    expect(first).toHaveLength(10);
    for (const m of first) m.ack();
    // The other 20 are prefetched before close: two batches' worth.
    await waitFor(() => reader.buffered === 20, { timeoutMs: 20_000, what: 'prefetch' });
    expect(await reader.close()).toBe(20);
    // Another reader gets them back long before the 120 s ack wait. (Not necessarily all at
    // once: the server may still hand a few to the closed reader's last pull request, and then
    // they come back after the ack wait, and a redelivered message may also come twice.)
    const again = await open(nc, topology, 20, 1000);
    const redelivered = (await again.next(AbortSignal.timeout(120_000))).filter(
      (m) => m.info.deliveryCount === 2,
    );
    expect(redelivered.length).toBeGreaterThanOrEqual(10);
    const returned = new Set(Array.from({ length: 20 }, (_, i) => `m${i + 10}`));
    expect(redelivered.every((m) => returned.has(text(m.data)))).toBe(true);
  });
});

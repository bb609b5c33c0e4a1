import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, type NatsConnection } from 'nats';
import { TEST_NATS_URL, dropTopology, testTopology } from '../src/testing.js';
import { ensureStreams } from '../src/nats.js';
import { subjects } from '../src/events.js';
import { JetStreamPublisher, PublishError } from '../src/jetstream-publisher.js';

const encoder = new TextEncoder();

/** The relay's publisher against the real JetStream: the answers js.publish would give. */
describe('JetStream publisher', () => {
  const topology = testTopology();
  const s = subjects(topology);
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;
  beforeAll(async () => {
    nc = await connect({ servers: TEST_NATS_URL });
    await ensureStreams(await nc.jetstreamManager(), topology);
    publisher = new JetStreamPublisher(nc, 1000);
  });
  afterAll(async () => {
    publisher?.close();
    await nc?.close();
    await dropTopology(topology);
  });

  const options = (msgID: string) => ({ msgID, expectStream: topology.stream });

  it('stores in the order published, each acknowledged with its sequence', async () => {
    const subject = s.bidAccepted('pub-order');
    const acks = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        publisher.publish(subject, encoder.encode(JSON.stringify({ n: i })), options(`order-${i}`)),
      ),
    );
    expect(acks.every((a) => a.stream === topology.stream && !a.duplicate)).toBe(true);
    const seqs = acks.map((a) => a.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const jsm = await nc.jetstreamManager();
    for (const i of [0, 150, 299]) {
      const stored = await jsm.streams.getMessage(topology.stream, { seq: seqs[i]! });
      expect(stored.subject).toBe(subject);
      expect(stored.json()).toEqual({ n: i });
      expect(stored.header.get('Nats-Msg-Id')).toBe(`order-${i}`);
    }
    expect(publisher.inFlight).toBe(0);
  });

  it('says duplicate for a Nats-Msg-Id stored already, and keeps the headers it was given', async () => {
    const subject = s.bidAccepted('pub-dup');
    const h = headers();
    h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    const first = await publisher.publish(subject, encoder.encode('{}'), { ...options('dup-1'), headers: h });
    const again = await publisher.publish(subject, encoder.encode('{}'), options('dup-1'));
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ stream: topology.stream, seq: first.seq, duplicate: true });
    const stored = await (
      await nc.jetstreamManager()
    ).streams.getMessage(topology.stream, { seq: first.seq });
    expect(stored.header.get('traceparent')).toBe(h.get('traceparent'));
  });

  it('refuses a subject no stream takes, and a stream that is not the expected one', async () => {
    await expect(
      publisher.publish(`${topology.prefix}_nostream.x`, encoder.encode('{}'), options('none-1')),
    ).rejects.toMatchObject({ name: 'PublishError', code: 503 });
    const refused = await publisher
      .publish(s.bidAccepted('pub-wrong'), encoder.encode('{}'), {
        msgID: 'wrong-1',
        expectStream: `${topology.stream}_OTHER`,
      })
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(PublishError);
    expect((refused as PublishError).message).toMatch(/stream/i);
    expect(publisher.inFlight).toBe(0);
  });

  it('times out when nobody answers, and rejects what is in flight on close', async () => {
    // A plain subscriber on a subject outside the stream: the publish reaches it, nobody acks.
    const silent = `${topology.prefix}_silent.x`;
    const sub = nc.subscribe(silent, { callback: () => undefined });
    await nc.flush();
    const short = new JetStreamPublisher(nc, 200);
    try {
      await expect(short.publish(silent, encoder.encode('{}'), options('silent-1'))).rejects.toMatchObject({
        code: 408,
      });
      const pending = short.publish(silent, encoder.encode('{}'), options('silent-2'));
      expect(short.inFlight).toBe(1);
      short.close();
      await expect(pending).rejects.toBeInstanceOf(PublishError);
      expect(short.inFlight).toBe(0);
    } finally {
      short.close();
      sub.unsubscribe();
    }
  });
});

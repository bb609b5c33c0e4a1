import { afterAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { TEST_NATS_URL, waitFor } from '@gavel/shared/testing';
import {
  RedisProbe,
  bid,
  cleanupNames,
  createItem,
  readStream,
  startApi,
  testNames,
  type TestApi,
} from './helpers.js';
import { metric } from './processes.js';

/**
 * The relay publishes the outbox's bytes as the api wrote them, routed by id and type alone;
 * an entry it cannot route is dropped (counted as invalid) instead of blocking the ones after.
 */
describe('outbox relay', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let api: TestApi | undefined;
  afterAll(async () => {
    await api?.close();
    await cleanupNames(names, probe);
  });

  it('publishes the stored bytes unchanged and drops entries it cannot route', async () => {
    // Accepted into the outbox while no relay runs, with unroutable entries in between.
    const writer = await startApi(names);
    const item = await createItem(writer.url, { startingPrice: '1.00' });
    expect((await bid(writer.url, item, 'alice', 2)).status).toBe(201);
    const outbox = probe.outboxKey;
    const unroutable = [
      await probe.redis.xadd(outbox, '*', 'event', 'not json'),
      await probe.redis.xadd(
        outbox,
        '*',
        'event',
        JSON.stringify({ id: 'x1', type: 'no.such.type', itemId: item }),
      ),
      await probe.redis.xadd(
        outbox,
        '*',
        'event',
        JSON.stringify({ id: 'x2', type: 'bid.accepted', itemId: 'a.b' }),
      ),
      await probe.redis.xadd(outbox, '*', 'other', 'field'),
    ];
    expect((await bid(writer.url, item, 'bob', 3)).status).toBe(201);
    const stored = (await probe.redis.xrange(outbox, '-', '+'))
      .filter(([id]) => !unroutable.includes(id))
      .map(([, fields]) => fields[1]!);
    await writer.close();

    api = await startApi(names, { OUTBOX_RELAY: 'true' });
    await waitFor(async () => (await probe.redis.xlen(outbox)) === 0, {
      timeoutMs: 30_000,
      what: 'outbox to drain',
    });
    const events = await readStream(names.topology);
    expect(events.map((e) => e.type)).toEqual(['item.opened', 'bid.accepted', 'bid.accepted']);
    expect(await metric(api.url, 'gavel_outbox_published_total', 'result="invalid"')).toBe(4);
    expect(await metric(api.url, 'gavel_outbox_published_total', 'result="ok"')).toBe(3);

    // Byte for byte what the api stored, on the subject its type and item name.
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(names.topology.stream);
      const published = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const msg = await jsm.streams.getMessage(names.topology.stream, { seq });
        published.push({
          subject: msg.subject,
          data: new TextDecoder().decode(msg.data),
          id: msg.header.get('Nats-Msg-Id'),
        });
      }
      const storedEvents = stored.map((raw) => JSON.parse(raw) as { id: string });
      expect(published.map((p) => p.data)).toEqual(stored);
      expect(published.map((p) => p.id)).toEqual(storedEvents.map((e) => e.id));
      expect(published.map((p) => p.subject)).toEqual([
        `${names.topology.prefix}.item.opened.${item}`,
        `${names.topology.prefix}.bid.accepted.${item}`,
        `${names.topology.prefix}.bid.accepted.${item}`,
      ]);
    } finally {
      await nc.close();
    }
  }, 120_000);

  it('stopped mid-round, finishes it: nothing it published is left pending for the next relay', async () => {
    const own = testNames();
    const ownProbe = new RedisProbe(own.prefix);
    // Two entries written while no relay runs, so that the relay's first round takes both.
    const writer = await startApi(own);
    const item = await createItem(writer.url, { startingPrice: '1.00' });
    expect((await bid(writer.url, item, 'alice', 2)).status).toBe(201);
    await writer.close();
    // The relay waits 3 s between JetStream's acks and its XACK: the stop lands in that gap.
    const relaying = await startApi(own, { OUTBOX_RELAY: 'true', OUTBOX_ACK_DELAY_MS: '3000' });
    try {
      const pending = async () =>
        ((await ownProbe.redis.xpending(ownProbe.outboxKey, 'relay')) as [number])[0];
      await waitFor(async () => (await readStream(own.topology)).length === 2 && (await pending()) === 2, {
        timeoutMs: 60_000,
        what: 'both events published and not yet acknowledged',
      });
      await relaying.close();
      // A relay cut off here would leave both pending, to be published again by the next one.
      expect(await pending()).toBe(0);
      expect(await ownProbe.redis.xlen(ownProbe.outboxKey)).toBe(0);
      expect(await readStream(own.topology)).toHaveLength(2);
    } finally {
      await relaying.close();
      await cleanupNames(own, ownProbe);
    }
  }, 120_000);
});

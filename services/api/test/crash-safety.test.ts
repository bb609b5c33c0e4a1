import { afterAll, describe, expect, it } from 'vitest';
import { waitFor, type ServiceProcess } from '@gavel/shared/testing';
import { RedisProbe, bid, cleanupNames, createItem, readStream, testNames } from './helpers.js';
import { metric, spawnApi } from './processes.js';

/**
 * Accepted bids survive kill -9 of the api between any two steps of their way to JetStream:
 * after Redis accepted them (not yet published), and after JetStream stored them (not yet
 * removed from the outbox).
 */
describe('crash safety of the outbox', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  const running: ServiceProcess[] = [];
  afterAll(async () => {
    await Promise.all(running.map((p) => p.kill('SIGKILL')));
    await cleanupNames(names, probe);
  });

  const outboxDepth = () => probe.redis.xlen(probe.outboxKey);
  const bidSeqs = (events: Awaited<ReturnType<typeof readStream>>) =>
    events.flatMap((e) => (e.type === 'bid.accepted' ? [e.seq] : []));

  it('publishes every accepted bid exactly once across two crashes', async () => {
    // 1. Redis accepts 30 bids; this process never publishes them, then dies.
    const accepting = await spawnApi(names, { OUTBOX_RELAY: 'false' });
    running.push(accepting);
    const item = await createItem(accepting.url, { startingPrice: '1.00' });
    for (let i = 0; i < 30; i++) expect((await bid(accepting.url, item, `u${i}`, 1 + i)).status).toBe(201);
    await accepting.kill('SIGKILL');
    expect(await outboxDepth()).toBe(31);
    expect(await readStream(names.topology)).toHaveLength(0);

    // 2. A restarted api publishes them all, but dies after JetStream's ack and before its
    //    XACK/XDEL (OUTBOX_ACK_DELAY_MS holds it in exactly that gap).
    const publishing = await spawnApi(names, { OUTBOX_RELAY: 'true', OUTBOX_ACK_DELAY_MS: '60000' });
    running.push(publishing);
    const published = await waitFor(
      async () => {
        const events = await readStream(names.topology);
        return events.length === 31 ? events : null;
      },
      { timeoutMs: 30_000, what: 'the restarted relay to publish' },
    );
    expect(bidSeqs(published)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(published.map((e) => e.id)).size).toBe(31);
    const [pendingCount] = (await probe.redis.xpending(probe.outboxKey, 'relay')) as [number];
    expect(pendingCount).toBe(31);
    await publishing.kill('SIGKILL');
    expect(await outboxDepth()).toBe(31);

    // 3. The next api claims the dead relay's entries and publishes them again; JetStream drops
    //    the copies by Nats-Msg-Id, so the stream still holds each event once.
    const recovering = await spawnApi(names, { OUTBOX_RELAY: 'true', OUTBOX_CLAIM_IDLE_MS: '300' });
    running.push(recovering);
    await waitFor(async () => (await outboxDepth()) === 0, { timeoutMs: 30_000, what: 'outbox to drain' });
    expect(await metric(recovering.url, 'gavel_outbox_published_total', 'result="duplicate"')).toBe(31);
    const final = await readStream(names.topology);
    expect(final.map((e) => e.id)).toEqual(published.map((e) => e.id));
    await recovering.kill();
  }, 420_000);
});

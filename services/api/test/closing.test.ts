import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type ServiceProcess } from '@gavel/shared/testing';
import { RedisProbe, bid, cleanupNames, createItem, readStream, testNames } from './helpers.js';
import { spawnApi } from './processes.js';

/** Two api replicas, each running its closer and relay on the same Redis and stream. */
describe('auction closing with two api processes', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  const replicas: ServiceProcess[] = [];

  beforeAll(async () => {
    const env = { CLOSER: 'true', CLOSER_INTERVAL_MS: '10', OUTBOX_RELAY: 'true', EXTEND_WINDOW_S: '0' };
    // One after the other, each recorded at once: a failed second start must not orphan the first.
    for (let i = 0; i < 2; i++) replicas.push(await spawnApi(names, env));
    // Two process starts in a row: on a busy machine each may take most of its ceiling.
  }, 260_000);
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.kill()));
    await cleanupNames(names, probe);
  });

  it('closes each item exactly once, with its winner and bid count', async () => {
    const [a, b] = replicas as [ServiceProcess, ServiceProcess];
    const items = await Promise.all(
      // Long enough for the bids below on a loaded machine (they must land before the close).
      Array.from({ length: 6 }, () => createItem(a.url, { endsInMs: 8000, startingPrice: '1.00' })),
    );
    const [withBids, empty] = [items.slice(0, 4), items.slice(4)];
    await Promise.all(
      withBids.map(async (item) => {
        expect((await bid(a.url, item, 'early', 5)).status).toBe(201);
        expect((await bid(b.url, item, 'winner', 7.5)).status).toBe(201);
      }),
    );
    const closed = await waitFor(
      async () => {
        const events = (await readStream(names.topology)).filter((e) => e.type === 'item.closed');
        return events.length >= items.length ? events : null;
      },
      { timeoutMs: 30_000, what: 'item.closed events' },
    );
    // Give both closers many more passes: no second close may appear.
    await new Promise((r) => setTimeout(r, 1000));
    const final = (await readStream(names.topology)).filter((e) => e.type === 'item.closed');
    expect(final).toHaveLength(items.length);
    expect(closed.map((e) => e.itemId).sort()).toEqual([...items].sort());
    for (const event of final) {
      if (event.type !== 'item.closed') continue;
      if (withBids.includes(event.itemId)) {
        expect(event.bidCount).toBe(2);
        expect(event.winner).toEqual({ userId: 'winner', amountCents: 750, seq: 2 });
      } else {
        expect(empty).toContain(event.itemId);
        expect(event).toMatchObject({ bidCount: 0, winner: null });
      }
    }
    const late = await bid(b.url, items[0]!, 'late', 100);
    expect(late.status).toBe(410);
  }, 90_000);
});

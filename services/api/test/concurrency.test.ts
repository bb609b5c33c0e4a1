import { afterAll, beforeAll, describe, it } from 'vitest';
import { RedisProbe, cleanupNames, startApi, testNames, type TestApi } from './helpers.js';
import { raceOnOneItem } from './scenarios.js';

const BIDDERS = 500;

/**
 * 500 bids at once on one item over real HTTP: the accepted ones get seqs 1..N with no gap or
 * repeat, the highest is the largest accepted amount, and the relay puts exactly those N bid
 * events into JetStream. (cluster.test.ts runs the same on a Redis Cluster.)
 */
describe.each(['lua', 'optimistic'] as const)('%s strategy under contention', (strategy) => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let api: TestApi;

  beforeAll(async () => {
    api = await startApi(names, { BID_STRATEGY: strategy, OUTBOX_RELAY: 'true' });
  });
  afterAll(async () => {
    await api?.close();
    await cleanupNames(names, probe);
  });

  it(`orders ${BIDDERS} concurrent bids without gaps and publishes each accepted one once`, async () => {
    await raceOnOneItem(api.url, {
      bidders: BIDDERS,
      topology: names.topology,
      outboxDepth: () => probe.redis.xlen(probe.outboxKey),
    });
  }, 180_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProbe, bid, cleanupNames, createItem, startApi, testNames, type TestApi } from './helpers.js';

describe.each(['lua', 'optimistic'] as const)('Idempotency-Key (%s)', (strategy) => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let api: TestApi;

  beforeAll(async () => {
    api = await startApi(names, { BID_STRATEGY: strategy });
  });
  afterAll(async () => {
    await api?.close();
    await cleanupNames(names, probe);
  });

  const bidEvents = async (item: string) =>
    (await probe.outbox()).filter((e) => e.type === 'bid.accepted' && e.itemId === item);

  it('returns the first answer to a retry and places one bid', async () => {
    const item = await createItem(api.url);
    const key = { 'idempotency-key': 'retry-1' };
    const first = await bid(api.url, item, 'alice', 20, key);
    const second = await bid(api.url, item, 'alice', 20, key);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await bidEvents(item)).toHaveLength(1);
  });

  it('replays a rejection too, without judging the bid again', async () => {
    const item = await createItem(api.url, { startingPrice: '50.00' });
    const key = { 'idempotency-key': 'low-1' };
    const first = await bid(api.url, item, 'alice', 20, key);
    expect(first.status).toBe(409);
    const again = await bid(api.url, item, 'alice', 20, key);
    expect(again.status).toBe(409);
    expect(again.body).toEqual(first.body);
  });

  it('places one bid for 25 concurrent duplicates, all answered alike', async () => {
    const item = await createItem(api.url);
    const key = { 'idempotency-key': 'storm-1' };
    const answers = await Promise.all(Array.from({ length: 25 }, () => bid(api.url, item, 'alice', 30, key)));
    for (const a of answers) {
      expect(a.status).toBe(201);
      expect(a.body).toEqual(answers[0]!.body);
    }
    expect(await bidEvents(item)).toHaveLength(1);
  });

  it('scopes keys per user and refuses a key reused for a different bid', async () => {
    const item = await createItem(api.url);
    const key = { 'idempotency-key': 'shared-key' };
    expect((await bid(api.url, item, 'alice', 20, key)).status).toBe(201);
    const bob = await bid(api.url, item, 'bob', 21, key);
    expect(bob.status).toBe(201);
    expect(bob.body.seq).toBe(2);
    const before = await probe.snapshot();
    const reused = await bid(api.url, item, 'alice', 40, key);
    expect(reused.status).toBe(422);
    expect(reused.body.error).toBe('idempotency_key_reused');
    expect(await probe.snapshot()).toEqual(before);
  });
});

describe.each(['lua', 'optimistic'] as const)('per-user bid rate limit (%s)', (strategy) => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let api: TestApi;

  beforeAll(async () => {
    api = await startApi(names, { BID_RATE_LIMIT_PER_S: '3', BID_STRATEGY: strategy });
  });
  afterAll(async () => {
    await api?.close();
    await cleanupNames(names, probe);
  });

  it('answers 429 with Retry-After beyond the limit, for that user only', async () => {
    const item = await createItem(api.url);
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => bid(api.url, item, 'greedy', 10 + i)),
    );
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(5);
    for (const a of limited) {
      expect(a.body.error).toBe('rate_limited');
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    const accepted = answers.filter((a) => a.status === 201).length;
    const events = (await probe.outbox()).filter((e) => e.type === 'bid.accepted' && e.itemId === item);
    expect(events).toHaveLength(accepted);
    expect((await bid(api.url, item, 'patient', 1000)).status).toBe(201);
  });

  it('answers a replay before the limit: 15 immediate retries get the first answer, not 429', async () => {
    const item = await createItem(api.url, { startingPrice: '1.00' });
    const key = { 'idempotency-key': 'replayed-often' };
    const first = await bid(api.url, item, 'retrier', 5, key);
    expect(first.status).toBe(201);
    const retries = await Promise.all(
      Array.from({ length: 15 }, () => bid(api.url, item, 'retrier', 5, key)),
    );
    for (const r of retries) {
      expect(r.status).toBe(201);
      expect(r.body).toEqual(first.body);
      expect(r.headers.get('idempotent-replayed')).toBe('true');
    }
  });

  it('does not count a replay against the limit', async () => {
    // The window is one second; an attempt whose window ended before the count was read says
    // nothing, and is made again with a fresh user.
    for (let attempt = 0; attempt < 5; attempt++) {
      const user = `counted_${attempt}`;
      const item = await createItem(api.url, { startingPrice: '1.00' });
      const key = { 'idempotency-key': 'counted-once' };
      expect((await bid(api.url, item, user, 5, key)).status).toBe(201);
      await Promise.all(Array.from({ length: 10 }, () => bid(api.url, item, user, 5, key)));
      const used = await probe.redis.get(probe.keys.bidRateLimit(item, user));
      if (used === null) continue;
      expect(used).toBe('1');
      return;
    }
    throw new Error('every attempt outlived its one-second window; the machine is too slow to tell');
  });
});

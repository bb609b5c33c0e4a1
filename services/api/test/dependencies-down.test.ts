import { afterAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@gavel/shared/testing';
import {
  RedisProbe,
  bid,
  cleanupNames,
  createItem,
  http,
  readStream,
  startApi,
  testNames,
  type TestApi,
} from './helpers.js';

/** Outages are simulated with URLs to closed ports: the shared servers keep running for others. */
describe('when a dependency is down', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  const apis: TestApi[] = [];
  afterAll(async () => {
    await Promise.all(apis.map((a) => a.close()));
    await cleanupNames(names, probe);
  });
  const start = async (env: Record<string, string>) => {
    const api = await startApi(names, env);
    apis.push(api);
    return api;
  };

  it('answers 503 quickly (no hang) when Redis is unreachable, and stays live', async () => {
    const port = await freePort();
    const api = await start({ REDIS_URL: `redis://127.0.0.1:${port}`, OUTBOX_RELAY: 'true', CLOSER: 'true' });
    const res = await bid(api.url, 'some_item', 'alice', 10);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'dependency_unavailable' });
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await http(api.url, 'GET', '/api/v1/items/some_item')).status).toBe(503);
    expect(
      (
        await http(api.url, 'POST', '/api/v1/items', {
          title: 't',
          startingPrice: 1,
          minIncrement: 1,
          endsAt: Date.now() + 60_000,
        })
      ).status,
    ).toBe(503);
    expect((await http(api.url, 'GET', '/readyz')).status).toBe(503);
    const health = await http(api.url, 'GET', '/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'down', checks: { redis: { ok: false } } });
    expect((await http(api.url, 'GET', '/livez')).status).toBe(200);
  });

  it('answers 503 on history routes when PostgreSQL is unreachable', async () => {
    const port = await freePort();
    const api = await start({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/gavel` });
    const bids = await http(api.url, 'GET', '/api/v1/items/x/bids');
    expect(bids.status).toBe(503);
    expect(bids.body.message).toMatch(/postgres/);
    expect((await http(api.url, 'GET', '/api/v1/rooms/lobby/messages')).status).toBe(503);
  });

  it('keeps accepting bids into the outbox while NATS is down, and publishes them later', async () => {
    const port = await freePort();
    const cut = await start({ NATS_URL: `nats://127.0.0.1:${port}`, OUTBOX_RELAY: 'true' });
    const item = await createItem(cut.url, { startingPrice: '1.00' });
    for (let i = 0; i < 5; i++) expect((await bid(cut.url, item, `u${i}`, 2 + i)).status).toBe(201);
    const health = await http(cut.url, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'degraded',
      checks: { redis: { ok: true }, nats: { ok: false } },
    });
    expect((await http(cut.url, 'GET', '/readyz')).status).toBe(200);
    expect(await probe.redis.xlen(probe.outboxKey)).toBe(6);

    // A replica that can reach NATS drains the shared outbox.
    await start({ OUTBOX_RELAY: 'true' });
    await waitFor(async () => (await probe.redis.xlen(probe.outboxKey)) === 0, {
      timeoutMs: 20_000,
      what: 'outbox to drain',
    });
    const events = await readStream(names.topology);
    expect(events.filter((e) => 'itemId' in e && e.itemId === item)).toHaveLength(6);
  });

  it('refuses bids with 503 once the outbox holds OUTBOX_MAX_PENDING events', async () => {
    const own = testNames();
    const ownProbe = new RedisProbe(own.prefix);
    const api = await startApi(own, { OUTBOX_MAX_PENDING: '3' });
    try {
      const item = await createItem(api.url, { startingPrice: '1.00' });
      expect((await bid(api.url, item, 'a', 1)).status).toBe(201);
      expect((await bid(api.url, item, 'b', 2)).status).toBe(201);
      const before = await ownProbe.snapshot();
      const full = await bid(api.url, item, 'c', 3);
      expect(full.status).toBe(503);
      expect(full.body.error).toBe('outbox_full');
      expect(await ownProbe.snapshot()).toEqual(before);
    } finally {
      await api.close();
      await cleanupNames(own, ownProbe);
    }
  });
});

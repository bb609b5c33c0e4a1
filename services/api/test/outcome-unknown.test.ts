import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { PrivateRedis, waitFor } from '@gavel/shared/testing';
import { redisKeys } from '../src/redis-keys.js';
import { bid, createItem, http, startApi, testNames, type TestApi } from './helpers.js';

/**
 * A bid whose Redis command was sent and never answered may have been placed: the api says
 * so (503 outcome_unknown) instead of "unavailable", and a retry with the same Idempotency-Key
 * tells the client which it was. A bid that never left the api is 503 dependency_unavailable
 * and placed nothing. Redis here is the test's own, paused and killed at will.
 */
describe('bids when Redis stops answering', () => {
  const names = testNames();
  const keys = redisKeys(names.prefix);
  let redis: PrivateRedis;
  let look: Redis;
  let lua: TestApi;
  let optimistic: TestApi;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    look = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    look.on('error', () => undefined);
    const env = { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '500' };
    lua = await startApi(names, env);
    optimistic = await startApi(names, { ...env, BID_STRATEGY: 'optimistic' });
  }, 120_000);
  afterAll(async () => {
    redis?.resume();
    await lua?.close();
    await optimistic?.close();
    look?.disconnect();
    await redis?.stop();
  });

  const seqOf = async (item: string) => Number((await look.hget(keys.item(item), 'seq')) ?? 0);
  const ready = (api: TestApi) => async () => (await http(api.url, 'GET', '/readyz')).status === 200;

  it('answers outcome_unknown to a bid Redis received but did not answer, and the retry tells', async () => {
    const item = await createItem(lua.url, { startingPrice: '1.00' });
    expect((await bid(lua.url, item, 'alice', 1)).status).toBe(201);

    redis.pause();
    let unknown;
    try {
      unknown = await bid(lua.url, item, 'bob', 2, { 'idempotency-key': 'paused-1' });
    } finally {
      redis.resume();
    }
    expect(unknown.status).toBe(503);
    expect(unknown.body.error).toBe('outcome_unknown');
    expect(unknown.headers.get('retry-after')).toBe('1');

    // Redis ran the command once it could: the bid was placed after all.
    await waitFor(async () => (await seqOf(item)) === 2, {
      timeoutMs: 20_000,
      what: 'the paused bid to land',
    });
    const retry = await bid(lua.url, item, 'bob', 2, { 'idempotency-key': 'paused-1' });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toMatchObject({ seq: 2, userId: 'bob', amountCents: 200 });
    expect(await seqOf(item)).toBe(2);
  });

  it('answers dependency_unavailable when nothing was sent, and nothing was placed', async () => {
    const item = await createItem(lua.url, { startingPrice: '1.00' });
    expect((await bid(lua.url, item, 'alice', 1)).status).toBe(201);

    await redis.kill();
    try {
      await waitFor(async () => !(await ready(lua)()), {
        timeoutMs: 20_000,
        what: 'the api to see Redis gone',
      });
      const down = await bid(lua.url, item, 'carol', 3, { 'idempotency-key': 'down-1' });
      expect(down.status).toBe(503);
      expect(down.body.error).toBe('dependency_unavailable');
    } finally {
      await redis.restart();
    }
    await waitFor(ready(lua), { timeoutMs: 30_000, what: 'the api to reconnect' });
    await waitFor(ready(optimistic), { timeoutMs: 30_000, what: 'the optimistic api to reconnect' });
    // AOF kept the first bid; the refused one was never applied, so its retry is a new bid.
    expect(await seqOf(item)).toBe(1);
    const retry = await bid(lua.url, item, 'carol', 3, { 'idempotency-key': 'down-1' });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(retry.body.seq).toBe(2);
  });

  it('optimistic: a bid stuck before its EXEC is unavailable, not unknown, and placed nothing', async () => {
    const item = await createItem(optimistic.url, { startingPrice: '1.00' });
    expect((await bid(optimistic.url, item, 'alice', 1)).status).toBe(201);

    redis.pause();
    let stuck;
    try {
      stuck = await bid(optimistic.url, item, 'dave', 4);
    } finally {
      redis.resume();
    }
    expect(stuck.status).toBe(503);
    expect(stuck.body.error).toBe('dependency_unavailable');
    await waitFor(ready(optimistic), { timeoutMs: 20_000, what: 'Redis to answer again' });
    const after = await bid(optimistic.url, item, 'erin', 5);
    expect(after.status).toBe(201);
    // Only the bid after the pause was placed.
    expect(after.body.seq).toBe(2);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@gavel/shared/testing';
import { bidResponse } from '../src/schemas.js';
import {
  RedisProbe,
  bid,
  cleanupNames,
  createItem,
  http,
  startApi,
  testNames,
  type TestApi,
} from './helpers.js';

/** Every rule, against both strategies: they must give the same answers. */
describe.each(['lua', 'optimistic'] as const)('bid rules (%s)', (strategy) => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let api: TestApi;
  let autoOpen: TestApi;

  beforeAll(async () => {
    // A 2 s extension window: items ending an hour out are never extended, items ending in
    // 1.5 s are.
    const env = { BID_STRATEGY: strategy, EXTEND_WINDOW_S: '2', EXTEND_BY_S: '5' };
    api = await startApi(names, env);
    autoOpen = await startApi(names, { ...env, AUTO_OPEN_ITEMS: 'true' });
  });
  afterAll(async () => {
    await api?.close();
    await autoOpen?.close();
    await cleanupNames(names, probe);
  });

  it('accepts a first bid at the starting price, then only bids of at least highest + increment', async () => {
    const item = await createItem(api.url, { startingPrice: '10.00', minIncrement: '1.00' });
    const below = await bid(api.url, item, 'alice', '9.99');
    expect(below.status).toBe(409);
    expect(below.body).toMatchObject({ error: 'bid_too_low', highest: null, minimumCents: 1000 });

    const first = await bid(api.url, item, 'alice', 10);
    expect(first.status).toBe(201);
    expect(bidResponse.parse(first.body)).toMatchObject({
      itemId: item,
      seq: 1,
      amount: '10.00',
      amountCents: 1000,
      userId: 'alice',
      extended: false,
    });

    const tooLow = await bid(api.url, item, 'bob', '10.99');
    expect(tooLow.status).toBe(409);
    expect(tooLow.body).toMatchObject({
      error: 'bid_too_low',
      highest: '10.00',
      highestCents: 1000,
      minimum: '11.00',
    });
    expect(typeof tooLow.body.message).toBe('string');

    const exact = await bid(api.url, item, 'bob', '11.00');
    expect(exact.status).toBe(201);
    expect(exact.body).toMatchObject({ seq: 2, amountCents: 1100 });
    const higher = await bid(api.url, item, 'carol', 25.5);
    expect(higher.body).toMatchObject({ seq: 3, amount: '25.50', amountCents: 2550 });

    const view = await http(api.url, 'GET', `/api/v1/items/${item}`);
    expect(view.body).toMatchObject({
      id: item,
      status: 'open',
      bidCount: 3,
      highestBid: { amount: '25.50', amountCents: 2550, userId: 'carol', seq: 3 },
    });

    const events = (await probe.outbox()).filter((e) => 'itemId' in e && e.itemId === item);
    expect(events.map((e) => e.type)).toEqual([
      'item.opened',
      'bid.accepted',
      'bid.accepted',
      'bid.accepted',
    ]);
    const bids = events.filter((e) => e.type === 'bid.accepted');
    expect(bids.map((e) => [e.seq, e.userId, e.amountCents])).toEqual([
      [1, 'alice', 1000],
      [2, 'bob', 1100],
      [3, 'carol', 2550],
    ]);
    // The event's time is the one the bidder was told (formatted in Lua for the lua strategy).
    expect(bids[0]!.at).toBe(first.body.at);
  });

  it.each([
    ['three decimals', '10.555'],
    ['three decimals as a number', 10.555],
    ['zero', 0],
    ['negative', -5],
    ['negative string', '-5.00'],
    ['huge', 1e12],
    ['huge string', '99999999999999.00'],
    ['exponent', '1e3'],
    ['not a number', 'abc'],
    ['empty string', ''],
    ['boolean', true],
    ['null', null],
    ['object', { value: 10 }],
  ])('refuses an amount that is %s with 400 and changes nothing', async (_what, amount) => {
    const item = await createItem(api.url);
    const before = await probe.snapshot();
    const res = await bid(api.url, item, 'alice', amount);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(String(res.body.message)).toMatch(/amount/);
    expect(await probe.snapshot()).toEqual(before);
  });

  it('answers 404 for an unknown item, and changes nothing', async () => {
    const before = await probe.snapshot();
    const res = await bid(api.url, 'no_such_item', 'alice', 10);
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('item_not_found');
    expect(await probe.snapshot()).toEqual(before);
    expect((await http(api.url, 'GET', '/api/v1/items/no_such_item')).status).toBe(404);
  });

  it('opens an unknown item on its first bid when AUTO_OPEN_ITEMS=true', async () => {
    const item = `auto_${strategy}_${Date.now()}`;
    const first = await bid(autoOpen.url, item, 'test_user', 100.0);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ seq: 1, amountCents: 10000 });
    const second = await bid(autoOpen.url, item, 'other', 100.0);
    expect(second.status).toBe(409);
    const events = (await probe.outbox()).filter((e) => 'itemId' in e && e.itemId === item);
    expect(events.map((e) => e.type)).toEqual(['item.opened', 'bid.accepted']);
    expect(events[0]).toMatchObject({ title: item, startingPriceCents: 1, minIncrementCents: 1 });
  });

  it('extends an auction when a bid lands inside the last window', async () => {
    const item = await createItem(api.url, { endsInMs: 1500 });
    const res = await bid(api.url, item, 'sniper', 10);
    expect(res.status).toBe(201);
    expect(res.body.extended).toBe(true);
    const endsAt = Date.parse(String(res.body.endsAt));
    expect(endsAt).toBe(Date.parse(String(res.body.at)) + 5000);
    const extended = (await probe.outbox()).find((e) => e.type === 'item.extended' && e.itemId === item);
    expect(extended).toMatchObject({ seq: 1, endsAt: new Date(endsAt).toISOString() });
    expect((await http(api.url, 'GET', `/api/v1/items/${item}`)).body.endsAt).toBe(res.body.endsAt);
  });

  it('answers 410 after endsAt, even before any closer ran', async () => {
    const item = await createItem(api.url, { endsInMs: 1000 });
    await waitFor(
      async () => (await http(api.url, 'GET', `/api/v1/items/${item}`)).body.status === 'closed',
      {
        what: 'item to end',
      },
    );
    const before = await probe.snapshot();
    const res = await bid(api.url, item, 'late', 50);
    expect(res.status).toBe(410);
    expect(res.body.error).toBe('auction_closed');
    expect(await probe.snapshot()).toEqual(before);
  });
});

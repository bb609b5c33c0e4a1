import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProbe, cleanupNames, createItem, http, startApi, testNames, type TestApi } from './helpers.js';

interface Probe {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly error?: string;
}

const future = () => new Date(Date.now() + 3_600_000).toISOString();
const item = (over: Record<string, unknown>) => ({
  title: 'A lamp',
  startingPrice: '10.00',
  minIncrement: '1.00',
  endsAt: future(),
  ...over,
});

/** Every route, fed every shape of bad input: a clear 4xx, and Redis exactly as it was. */
describe('bad input on every route', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let api: TestApi;
  let itemId: string;

  beforeAll(async () => {
    api = await startApi(names, {
      DEV_TOKENS: 'true',
      AUTH_MODE: 'jwt',
      AUTH_SECRET: 'x'.repeat(32),
      BODY_LIMIT_BYTES: '4096',
    });
  });
  afterAll(async () => {
    await api?.close();
    await cleanupNames(names, probe);
  });

  const cases = (): Probe[] => {
    const bidPath = `/api/v1/items/${itemId}/bid`;
    return [
      // POST /api/v1/items
      {
        name: 'items: not JSON',
        method: 'POST',
        path: '/api/v1/items',
        body: '{"title":',
        status: 400,
        error: 'invalid_json',
      },
      {
        name: 'items: text/plain',
        method: 'POST',
        path: '/api/v1/items',
        body: 'hello',
        headers: { 'content-type': 'text/plain' },
        status: 400,
      },
      {
        name: 'items: unknown media type',
        method: 'POST',
        path: '/api/v1/items',
        body: '<x/>',
        headers: { 'content-type': 'application/xml' },
        status: 415,
      },
      {
        name: 'items: oversized',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ title: 'x'.repeat(10_000) }),
        status: 413,
      },
      { name: 'items: JSON null', method: 'POST', path: '/api/v1/items', body: 'null', status: 400 },
      { name: 'items: array', method: 'POST', path: '/api/v1/items', body: [item({})], status: 400 },
      {
        name: 'items: missing title',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ title: undefined }),
        status: 400,
      },
      {
        name: 'items: title wrong type',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ title: 42 }),
        status: 400,
      },
      // Text at the edge: PostgreSQL refuses NUL, so it must never be accepted (it was, then
      // dead-lettered by archival, leaving the item in Redis but not in the archive).
      ...[
        'a\u0000b',
        'bell\u0007',
        'esc\u001b[31m',
        'tab\tin title',
        'del\u007f',
        'lone \ud800 surrogate',
      ].map((title): Probe => ({
        name: `items: title ${JSON.stringify(title)}`,
        method: 'POST',
        path: '/api/v1/items',
        body: item({ title }),
        status: 400,
        error: 'invalid_request',
      })),
      {
        name: 'items: title too long',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ title: 'x'.repeat(201) }),
        status: 400,
      },
      {
        name: 'items: price not a number',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ startingPrice: 'ten' }),
        status: 400,
      },
      {
        name: 'items: zero increment',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ minIncrement: 0 }),
        status: 400,
      },
      {
        name: 'items: endsAt garbage',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ endsAt: 'tomorrow' }),
        status: 400,
      },
      {
        name: 'items: endsAt past',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ endsAt: Date.now() - 1000 }),
        status: 400,
      },
      {
        name: 'items: endsAt far',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ endsAt: Date.now() + 400 * 86_400_000 }),
        status: 400,
      },
      {
        name: 'items: bad id',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ id: 'a.b c' }),
        status: 400,
      },
      {
        name: 'items: unknown field',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ admin: true }),
        status: 400,
      },
      {
        name: 'items: duplicate id',
        method: 'POST',
        path: '/api/v1/items',
        body: item({ id: itemId }),
        status: 409,
        error: 'item_exists',
      },
      // GET /api/v1/items and /api/v1/items/:id
      { name: 'list: bad status', method: 'GET', path: '/api/v1/items?status=maybe', status: 400 },
      { name: 'list: limit 0', method: 'GET', path: '/api/v1/items?limit=0', status: 400 },
      { name: 'list: limit text', method: 'GET', path: '/api/v1/items?limit=lots', status: 400 },
      { name: 'list: limit too big', method: 'GET', path: '/api/v1/items?limit=100000', status: 400 },
      { name: 'list: repeated limit', method: 'GET', path: '/api/v1/items?limit=1&limit=2', status: 400 },
      { name: 'list: unknown param', method: 'GET', path: '/api/v1/items?sort=price', status: 400 },
      { name: 'item: dotted id', method: 'GET', path: '/api/v1/items/a.b', status: 400 },
      { name: 'item: id too long', method: 'GET', path: `/api/v1/items/${'x'.repeat(65)}`, status: 400 },
      {
        name: 'item: unknown',
        method: 'GET',
        path: '/api/v1/items/nothing_here',
        status: 404,
        error: 'item_not_found',
      },
      // POST /api/v1/items/:id/bid (valid token, so the input is what is judged)
      {
        name: 'bid: not JSON',
        method: 'POST',
        path: bidPath,
        body: '{amount: 1}',
        status: 400,
        error: 'invalid_json',
      },
      {
        name: 'bid: oversized',
        method: 'POST',
        path: bidPath,
        body: { amount: 10, pad: 'x'.repeat(8000) },
        status: 413,
      },
      { name: 'bid: no body', method: 'POST', path: bidPath, status: 400 },
      { name: 'bid: array', method: 'POST', path: bidPath, body: [{ amount: 10 }], status: 400 },
      { name: 'bid: missing amount', method: 'POST', path: bidPath, body: {}, status: 400 },
      { name: 'bid: amount object', method: 'POST', path: bidPath, body: { amount: { v: 1 } }, status: 400 },
      {
        name: 'bid: amount 3 decimals',
        method: 'POST',
        path: bidPath,
        body: { amount: '10.001' },
        status: 400,
      },
      {
        name: 'bid: unknown field',
        method: 'POST',
        path: bidPath,
        body: { amount: 10, bonus: 1 },
        status: 400,
      },
      {
        name: 'bid: bad user id',
        method: 'POST',
        path: bidPath,
        body: { amount: 10, user_id: 'a b' },
        status: 400,
      },
      {
        name: 'bid: bad item id',
        method: 'POST',
        path: '/api/v1/items/a%20b/bid',
        body: { amount: 10 },
        status: 400,
      },
      {
        name: 'bid: bad Idempotency-Key',
        method: 'POST',
        path: bidPath,
        body: { amount: 10 },
        headers: { 'idempotency-key': 'k'.repeat(200) },
        status: 400,
      },
      {
        name: 'bid: unknown item',
        method: 'POST',
        path: '/api/v1/items/nothing_here/bid',
        body: { amount: 10 },
        status: 404,
      },
      // History
      {
        name: 'bids: negative after',
        method: 'GET',
        path: `/api/v1/items/${itemId}/bids?after=-1`,
        status: 400,
      },
      {
        name: 'bids: after text',
        method: 'GET',
        path: `/api/v1/items/${itemId}/bids?after=abc`,
        status: 400,
      },
      {
        name: 'bids: after fraction',
        method: 'GET',
        path: `/api/v1/items/${itemId}/bids?after=1.5`,
        status: 400,
      },
      { name: 'bids: limit 0', method: 'GET', path: `/api/v1/items/${itemId}/bids?limit=0`, status: 400 },
      {
        name: 'bids: limit too big',
        method: 'GET',
        path: `/api/v1/items/${itemId}/bids?limit=1001`,
        status: 400,
      },
      {
        name: 'bids: unknown param',
        method: 'GET',
        path: `/api/v1/items/${itemId}/bids?before=2`,
        status: 400,
      },
      { name: 'bids: bad id', method: 'GET', path: '/api/v1/items/a$b/bids', status: 400 },
      {
        name: 'messages: bad before',
        method: 'GET',
        path: '/api/v1/rooms/lobby/messages?before=yesterday',
        status: 400,
      },
      {
        name: 'messages: limit text',
        method: 'GET',
        path: '/api/v1/rooms/lobby/messages?limit=ten',
        status: 400,
      },
      { name: 'messages: bad room', method: 'GET', path: '/api/v1/rooms/lob.by/messages', status: 400 },
      // Dev tokens
      { name: 'token: missing userId', method: 'POST', path: '/api/v1/dev/token', body: {}, status: 400 },
      {
        name: 'token: bad userId',
        method: 'POST',
        path: '/api/v1/dev/token',
        body: { userId: '../etc' },
        status: 400,
      },
      {
        name: 'token: userId number',
        method: 'POST',
        path: '/api/v1/dev/token',
        body: { userId: 7 },
        status: 400,
      },
      { name: 'token: not JSON', method: 'POST', path: '/api/v1/dev/token', body: 'user=1', status: 400 },
      // Unknown routes and methods
      { name: 'unknown route', method: 'GET', path: '/api/v1/nope', status: 404, error: 'not_found' },
      { name: 'wrong method', method: 'DELETE', path: `/api/v1/items/${itemId}`, status: 404 },
    ];
  };

  it('answers each with a 4xx {error, message} and changes nothing', async () => {
    const token = (await http(api.url, 'POST', '/api/v1/dev/token', { userId: 'prober' })).body
      .token as string;
    itemId = await createItem(api.url, {}, { authorization: `Bearer ${token}` });
    const before = await probe.snapshot();
    for (const c of cases()) {
      const headers = { authorization: `Bearer ${token}`, ...c.headers };
      const res = await http(api.url, c.method, c.path, c.body, headers);
      expect(res.status, `${c.name}: ${JSON.stringify(res.body)}`).toBe(c.status);
      expect(typeof res.body.error, c.name).toBe('string');
      if (c.error) expect(res.body.error, c.name).toBe(c.error);
      expect(String(res.body.message).length, c.name).toBeGreaterThan(3);
    }
    expect(await probe.snapshot()).toEqual(before);
    // And the service is still fine.
    expect((await http(api.url, 'GET', `/api/v1/items/${itemId}`)).body).toMatchObject({ bidCount: 0 });
  });
});

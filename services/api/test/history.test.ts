import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migrate } from '@gavel/archival/migrate';
import {
  createTestDatabase,
  freePort,
  spawnService,
  waitFor,
  type ServiceProcess,
  type TestDatabase,
} from '@gavel/shared/testing';
import { bidHistoryResponse, messagesResponse } from '../src/schemas.js';
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

describe('history routes read PostgreSQL', () => {
  const names = testNames();
  let db: TestDatabase;
  let client: pg.Client;
  let api: TestApi;

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    api = await startApi(names, { DATABASE_URL: db.url });
    for (let seq = 1; seq <= 5; seq++) {
      await client.query(
        `INSERT INTO bids (item_id, seq, user_id, amount_cents, accepted_at, event_id) VALUES ($1, $2, $3, $4, $5, $6)`,
        ['lamp', seq, `u${seq}`, 1000 + seq, new Date(Date.UTC(2030, 0, 1, 0, 0, seq)), `e${seq}`],
      );
      await client.query(
        `INSERT INTO chat_messages (id, room_id, user_id, text, client_msg_id, sent_at) VALUES ($1, 'lobby', $2, $3, $4, $5)`,
        [`m${seq}`, `u${seq}`, `hello ${seq}`, `c${seq}`, new Date(Date.UTC(2030, 0, 1, 0, 0, seq))],
      );
    }
  });
  afterAll(async () => {
    await api?.close();
    await client?.end();
    await db?.drop();
    await cleanupNames(names);
  });

  it('pages through bids in seq order with after and limit', async () => {
    const first = bidHistoryResponse.parse(
      (await http(api.url, 'GET', '/api/v1/items/lamp/bids?limit=2')).body,
    );
    expect(first.bids.map((b) => b.seq)).toEqual([1, 2]);
    expect(first.bids[0]).toEqual({
      seq: 1,
      userId: 'u1',
      amount: '10.01',
      amountCents: 1001,
      at: '2030-01-01T00:00:01.000Z',
    });
    expect(first.nextAfter).toBe(2);
    const rest = bidHistoryResponse.parse(
      (await http(api.url, 'GET', '/api/v1/items/lamp/bids?after=2')).body,
    );
    expect(rest.bids.map((b) => b.seq)).toEqual([3, 4, 5]);
    expect(rest.nextAfter).toBeNull();
    const none = bidHistoryResponse.parse((await http(api.url, 'GET', '/api/v1/items/unknown/bids')).body);
    expect(none.bids).toEqual([]);
  });

  it('returns chat messages newest first, before a timestamp given as ISO or epoch ms', async () => {
    const page = messagesResponse.parse(
      (await http(api.url, 'GET', '/api/v1/rooms/lobby/messages?limit=2')).body,
    );
    expect(page.messages.map((m) => m.id)).toEqual(['m5', 'm4']);
    expect(page.messages[0]).toMatchObject({
      roomId: 'lobby',
      userId: 'u5',
      text: 'hello 5',
      clientMsgId: 'c5',
    });
    const older = messagesResponse.parse(
      (
        await http(
          api.url,
          'GET',
          `/api/v1/rooms/lobby/messages?before=${encodeURIComponent(page.nextBefore!)}`,
        )
      ).body,
    );
    expect(older.messages.map((m) => m.id)).toEqual(['m3', 'm2', 'm1']);
    const byMs = messagesResponse.parse(
      (await http(api.url, 'GET', `/api/v1/rooms/lobby/messages?before=${Date.UTC(2030, 0, 1, 0, 0, 2)}`))
        .body,
    );
    expect(byMs.messages.map((m) => m.id)).toEqual(['m1']);
  });
});

/**
 * The whole path, for each strategy: 500 concurrent bids over HTTP -> Redis -> outbox relay ->
 * JetStream -> archival worker (its own process) -> PostgreSQL -> the history route.
 */
describe('accepted bids reach the history route through archival', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let db: TestDatabase;
  let archival: ServiceProcess;
  const apis: TestApi[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    for (const strategy of ['lua', 'optimistic']) {
      apis.push(
        await startApi(names, { BID_STRATEGY: strategy, OUTBOX_RELAY: 'true', DATABASE_URL: db.url }),
      );
    }
    const port = await freePort();
    archival = await spawnService(
      'services/archival/src/main.ts',
      {
        DATABASE_URL: db.url,
        NATS_STREAM: names.topology.stream,
        EVENT_PREFIX: names.topology.prefix,
        PORT: String(port),
        CONSUMER_NAME: 'archival',
      },
      { port, timeoutMs: 40_000 },
    );
  });
  afterAll(async () => {
    await archival?.kill();
    await Promise.all(apis.map((a) => a.close()));
    await db?.drop();
    await cleanupNames(names, probe);
  });

  it.each([0, 1])(
    'stores exactly the accepted bids (api %i)',
    async (index) => {
      const api = apis[index]!;
      const item = await createItem(api.url, { startingPrice: '1.00', minIncrement: '0.01' });
      const answers = await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          bid(api.url, item, `b${i}`, ((100 + ((i * 7919) % 500)) / 100).toFixed(2)),
        ),
      );
      const accepted = answers
        .filter((a) => a.status === 201)
        .map((a) => `${a.body.seq}:${a.body.userId}:${a.body.amountCents}`);
      expect(accepted.length).toBeGreaterThan(0);
      const stored = await waitFor(
        async () => {
          const page = bidHistoryResponse.parse(
            (await http(api.url, 'GET', `/api/v1/items/${item}/bids?limit=1000`)).body,
          );
          return page.bids.length >= accepted.length ? page.bids : null;
        },
        { timeoutMs: 45_000, what: 'archived bids' },
      );
      expect(stored.map((b) => b.seq)).toEqual(Array.from({ length: accepted.length }, (_, i) => i + 1));
      expect(stored.map((b) => `${b.seq}:${b.userId}:${b.amountCents}`).sort()).toEqual(accepted.sort());
    },
    180_000,
  );
});

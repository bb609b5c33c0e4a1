import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { signToken } from '@gavel/shared';
import { migrate } from '@gavel/archival/migrate';
import { createTestDatabase, type TestDatabase } from '@gavel/shared/testing';
import { dmsResponse } from '../src/schemas.js';
import { TEST_SECRET, cleanupNames, http, startApi, testNames, type TestApi } from './helpers.js';

/** GET /api/v1/dms: the caller's own conversation with one user, and nobody else's. */
describe('direct message history', () => {
  const names = testNames();
  let db: TestDatabase;
  let api: TestApi;
  let open: TestApi;
  const tokens: Record<string, string> = {};
  const get = (path: string, user?: string) =>
    http(api.url, 'GET', path, undefined, user ? { authorization: `Bearer ${tokens[user]}` } : {});

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // ann ↔ bob five times (alternating), ann → cid once, bob → cid once.
    const rows: Array<[string, string, string, number]> = [
      ['d1', 'ann', 'bob', 1],
      ['d2', 'bob', 'ann', 2],
      ['d3', 'ann', 'cid', 3],
      ['d4', 'ann', 'bob', 4],
      ['d5', 'bob', 'cid', 5],
      ['d6', 'bob', 'ann', 6],
      ['d7', 'ann', 'bob', 7],
    ];
    for (const [id, from, to, s] of rows) {
      await client.query(
        `INSERT INTO direct_messages (id, from_user, to_user, text, client_msg_id, sent_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [id, from, to, `${from} to ${to} #${id}`, `c_${id}`, new Date(Date.UTC(2030, 0, 1, 0, 0, s))],
      );
    }
    await client.end();
    for (const user of ['ann', 'bob', 'cid', 'eve']) tokens[user] = await signToken(TEST_SECRET, user);
    api = await startApi(names, { DATABASE_URL: db.url, AUTH_MODE: 'jwt', AUTH_SECRET: TEST_SECRET });
    open = await startApi(names, { DATABASE_URL: db.url });
  });
  afterAll(async () => {
    await api?.close();
    await open?.close();
    await db?.drop();
    await cleanupNames(names);
  });

  it('returns both directions of the caller’s conversation, newest first, in pages', async () => {
    const first = await get('/api/v1/dms?with=bob&limit=3', 'ann');
    expect(first.status).toBe(200);
    const page = dmsResponse.parse(first.body);
    expect(page.with).toBe('bob');
    expect(page.messages.map((m) => m.id)).toEqual(['d7', 'd6', 'd4']);
    expect(page.messages[1]).toEqual({
      id: 'd6',
      from: 'bob',
      to: 'ann',
      text: 'bob to ann #d6',
      clientMsgId: 'c_d6',
      at: '2030-01-01T00:00:06.000Z',
    });
    const older = dmsResponse.parse(
      (await get(`/api/v1/dms?with=bob&before=${encodeURIComponent(page.nextBefore!)}`, 'ann')).body,
    );
    expect(older.messages.map((m) => m.id)).toEqual(['d2', 'd1']);
    expect(older.nextBefore).toBeNull();
    // The same conversation from the other side.
    const fromBob = dmsResponse.parse((await get('/api/v1/dms?with=ann', 'bob')).body);
    expect(fromBob.messages.map((m) => m.id)).toEqual(['d7', 'd6', 'd4', 'd2', 'd1']);
  });

  it('never shows a conversation the caller is not in', async () => {
    // cid asking "with ann" sees only ann ↔ cid, not ann ↔ bob.
    expect(
      dmsResponse.parse((await get('/api/v1/dms?with=ann', 'cid')).body).messages.map((m) => m.id),
    ).toEqual(['d3']);
    expect(dmsResponse.parse((await get('/api/v1/dms?with=bob', 'eve')).body).messages).toEqual([]);
    expect(
      dmsResponse.parse((await get('/api/v1/dms?with=bob', 'cid')).body).messages.map((m) => m.id),
    ).toEqual(['d5']);
  });

  it('refuses a missing or bad token and bad queries with a clear error', async () => {
    expect((await get('/api/v1/dms?with=bob')).status).toBe(401);
    const forged = await http(api.url, 'GET', '/api/v1/dms?with=bob', undefined, {
      authorization: `Bearer ${await signToken('another-secret-of-enough-length', 'ann')}`,
    });
    expect(forged.status).toBe(401);
    // open mode has no caller to speak of.
    const anonymous = await http(open.url, 'GET', '/api/v1/dms?with=bob');
    expect(anonymous).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    for (const query of [
      '',
      '?with=',
      '?with=a.b',
      `?with=${'x'.repeat(65)}`,
      '?with=bob&limit=0',
      '?with=bob&limit=201',
      '?with=bob&limit=abc',
      '?with=bob&before=yesterday',
      `?with=bob&before=${'9'.repeat(70)}`,
      '?with=bob&from=cid',
      '?with=bob&with=cid',
    ]) {
      const answer = await get(`/api/v1/dms${query}`, 'ann');
      expect(answer.status, query).toBe(400);
      expect(answer.body, query).toMatchObject({
        error: 'invalid_request',
        message: expect.stringMatching(/^query/),
      });
    }
  });
});

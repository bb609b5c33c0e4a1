import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { broadcastKeyPrefix, presenceRoomKey, signToken, type RoomAccessEvent } from '@gavel/shared';
import { migrate } from '@gavel/archival/migrate';
import { createTestDatabase, uniqueId, type TestDatabase } from '@gavel/shared/testing';
import { messagesResponse, roomResponse } from '../src/schemas.js';
import {
  RedisProbe,
  TEST_SECRET,
  cleanupNames,
  createItem,
  http,
  startApi,
  testNames,
  type TestApi,
} from './helpers.js';

/**
 * Rooms in the api: created private rooms (members only), public ones, their members, and the
 * history routes that now need a token in jwt mode and keep a private room's messages to its
 * members. What broadcast does with the records and events is in services/broadcast's tests.
 */
describe('rooms', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let db: TestDatabase;
  let pgClient: pg.Client;
  let api: TestApi;
  let open: TestApi;
  const tokens: Record<string, string> = {};
  const as = (user?: string): Record<string, string> =>
    user ? { authorization: `Bearer ${tokens[user]}` } : {};
  const call = (method: string, path: string, body?: unknown, user?: string) =>
    http(api.url, method, path, body, as(user));
  const createRoom = (body: Record<string, unknown>, user = 'ann') =>
    call('POST', '/api/v1/rooms', body, user);
  /** Events the api has appended to its outbox (the relay is off here), of one room. */
  const roomEvents = async (roomId: string): Promise<RoomAccessEvent[]> =>
    (await probe.outbox()).filter(
      (e): e is RoomAccessEvent => e.type.startsWith('room.') && 'roomId' in e && e.roomId === roomId,
    );
  const archiveMessage = (roomId: string, id: string, userId: string) =>
    pgClient.query(
      `INSERT INTO chat_messages (id, room_id, user_id, text, client_msg_id, sent_at) VALUES ($1, $2, $3, $4, $5, now())`,
      [id, roomId, userId, `said ${id}`, `c_${id}`],
    );

  beforeAll(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    pgClient = new pg.Client({ connectionString: db.url });
    await pgClient.connect();
    for (const user of ['ann', 'bob', 'cid', 'dan']) tokens[user] = await signToken(TEST_SECRET, user);
    api = await startApi(names, { DATABASE_URL: db.url, AUTH_MODE: 'jwt', AUTH_SECRET: TEST_SECRET });
    // The same data behind an open-mode api (seed 004's load tests): a token is optional there.
    open = await startApi(names, { DATABASE_URL: db.url, AUTH_SECRET: TEST_SECRET });
  });
  afterAll(async () => {
    await api?.close();
    await open?.close();
    await pgClient?.end();
    await db?.drop();
    await cleanupNames(names, probe);
  });

  it('creates a private room whose creator is a member, announced once through the outbox', async () => {
    const id = uniqueId('room');
    const res = await createRoom({ id, private: true, members: ['bob', 'bob', 'ann'] });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/api/v1/rooms/${id}`);
    const room = roomResponse.parse(res.body);
    expect(room).toEqual({
      id,
      private: true,
      createdBy: 'ann',
      createdAt: room.createdAt,
      members: ['ann', 'bob'],
    });
    expect(Math.abs(Date.parse(room.createdAt) - Date.now())).toBeLessThan(60_000);
    expect(await roomEvents(id)).toEqual([
      expect.objectContaining({
        type: 'room.created',
        roomId: id,
        private: true,
        createdBy: 'ann',
        members: ['ann', 'bob'],
      }),
    ]);

    for (const member of ['ann', 'bob']) {
      const seen = await call('GET', `/api/v1/rooms/${id}`, undefined, member);
      expect(seen.status).toBe(200);
      expect(seen.body).toEqual(room);
    }
    // To anyone else it answers exactly as a room that was never created.
    const hidden = await call('GET', `/api/v1/rooms/${id}`, undefined, 'cid');
    const never = await call('GET', `/api/v1/rooms/${id}x`, undefined, 'cid');
    expect(hidden.status).toBe(404);
    expect(never.status).toBe(404);
    expect(hidden.body.error).toBe('room_not_found');
    expect(never.body.error).toBe('room_not_found');
    expect((await call('GET', `/api/v1/rooms/${id}`)).status).toBe(401);
    expect((await http(open.url, 'GET', `/api/v1/rooms/${id}`)).status).toBe(404);
    expect((await http(open.url, 'GET', `/api/v1/rooms/${id}`, undefined, as('bob'))).status).toBe(200);
  });

  it('creates a public room explicitly (its id reserved), visible to everyone, with no member list', async () => {
    const id = uniqueId('pub');
    const res = await createRoom({ id, private: false }, 'bob');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id, private: false, createdBy: 'bob', members: [] });
    expect(await roomEvents(id)).toEqual([
      expect.objectContaining({ type: 'room.created', private: false, createdBy: 'bob', members: [] }),
    ]);
    expect((await call('GET', `/api/v1/rooms/${id}`, undefined, 'cid')).body).toEqual(res.body);
    expect((await http(open.url, 'GET', `/api/v1/rooms/${id}`)).status).toBe(200);
    // Members belong to private rooms.
    const add = await call('POST', `/api/v1/rooms/${id}/members`, { userId: 'cid' }, 'bob');
    expect([add.status, add.body.error]).toEqual([409, 'room_public']);
    const remove = await call('DELETE', `/api/v1/rooms/${id}/members/bob`, undefined, 'bob');
    expect([remove.status, remove.body.error]).toEqual([409, 'room_public']);
    // And the id cannot become private later.
    expect((await createRoom({ id, private: true })).status).toBe(409);
    expect(await roomEvents(id)).toHaveLength(1);
  });

  it('refuses an id that is taken (a room, an item, a room in use) with 409, storing nothing', async () => {
    const taken = uniqueId('room');
    expect((await createRoom({ id: taken, private: true })).status).toBe(201);
    const item = await createItem(api.url, {}, as('ann'));
    const withMessages = uniqueId('chatty');
    await archiveMessage(withMessages, uniqueId('m'), 'dan');
    const occupied = uniqueId('busy');
    await probe.redis.hset(presenceRoomKey(broadcastKeyPrefix(names.prefix), occupied), 'dan|replica-1', '1');

    const cases: Array<[string, boolean, string, RegExp]> = [
      [taken, true, 'room_exists', /already exists/],
      [taken, false, 'room_exists', /already exists/],
      [item, true, 'item_room', /item's chat room/],
      [item, false, 'item_room', /item's chat room/],
      [withMessages, true, 'room_exists', /has messages/],
      [occupied, true, 'room_exists', /someone is in it/],
    ];
    for (const [id, isPrivate, code, message] of cases) {
      const before = await probe.snapshot();
      const res = await createRoom({ id, private: isPrivate, members: isPrivate ? ['bob'] : [] }, 'cid');
      expect([res.status, res.body.error], `${id} private=${isPrivate}`).toEqual([409, code]);
      expect(String(res.body.message)).toMatch(message);
      expect(await probe.snapshot(), `${id}: nothing stored`).toEqual(before);
    }
    // The room that was taken still has its one creator and its one event.
    expect((await call('GET', `/api/v1/rooms/${taken}`, undefined, 'ann')).body).toMatchObject({
      createdBy: 'ann',
      members: ['ann'],
    });
    expect(await roomEvents(taken)).toHaveLength(1);
  });

  it("keeps an item's chat room public: no item opens on a private room's id", async () => {
    const id = uniqueId('room');
    expect((await createRoom({ id, private: true })).status).toBe(201);
    const before = await probe.snapshot();
    const res = await call(
      'POST',
      '/api/v1/items',
      { id, title: 'Hidden lamp', startingPrice: '1.00', minIncrement: '1.00', endsAt: Date.now() + 600_000 },
      'ann',
    );
    expect([res.status, res.body.error]).toEqual([409, 'room_exists']);
    expect(await probe.snapshot()).toEqual(before);
    expect((await call('GET', `/api/v1/items/${id}`)).status).toBe(404);
  });

  it('lets members manage the members, each change announced once; the last member stays', async () => {
    const id = uniqueId('room');
    expect((await createRoom({ id, private: true, members: ['bob'] })).status).toBe(201);
    const members = async () => (await call('GET', `/api/v1/rooms/${id}`, undefined, 'ann')).body.members;

    // A non-member can do nothing, and learns nothing: the room is not there for them.
    const before = await probe.snapshot();
    for (const [method, path, body] of [
      ['POST', `/api/v1/rooms/${id}/members`, { userId: 'cid' }],
      ['DELETE', `/api/v1/rooms/${id}/members/bob`, undefined],
      ['DELETE', `/api/v1/rooms/${id}/members/cid`, undefined],
    ] as const) {
      const res = await call(method, path, body, 'cid');
      expect([res.status, res.body.error], `${method} ${path}`).toEqual([404, 'room_not_found']);
    }
    expect(await probe.snapshot()).toEqual(before);

    const added = await call('POST', `/api/v1/rooms/${id}/members`, { userId: 'cid' }, 'bob');
    expect(added.status).toBe(200);
    expect(roomResponse.parse(added.body).members).toEqual(['ann', 'bob', 'cid']);
    // Adding a member again changes nothing and announces nothing.
    const again = await call('POST', `/api/v1/rooms/${id}/members`, { userId: 'cid' }, 'ann');
    expect([again.status, again.body.members]).toEqual([200, ['ann', 'bob', 'cid']]);

    const removed = await call('DELETE', `/api/v1/rooms/${id}/members/bob`, undefined, 'cid');
    expect([removed.status, removed.body.members]).toEqual([200, ['ann', 'cid']]);
    const notMember = await call('DELETE', `/api/v1/rooms/${id}/members/dan`, undefined, 'ann');
    expect([notMember.status, notMember.body.error]).toEqual([404, 'member_not_found']);
    // The removed member sees the room no more.
    expect((await call('GET', `/api/v1/rooms/${id}`, undefined, 'bob')).status).toBe(404);

    // Leaving: a member removes themself.
    const left = await call('DELETE', `/api/v1/rooms/${id}/members/cid`, undefined, 'cid');
    expect([left.status, left.body.members]).toEqual([200, ['ann']]);
    const last = await call('DELETE', `/api/v1/rooms/${id}/members/ann`, undefined, 'ann');
    expect([last.status, last.body.error]).toEqual([409, 'last_member']);
    expect(await members()).toEqual(['ann']);

    const events = (await roomEvents(id)).map((e) =>
      e.type === 'room.created' ? [e.type, e.members.join()] : [e.type, `${e.userId} by ${e.by}`],
    );
    expect(events).toEqual([
      ['room.created', 'ann,bob'],
      ['room.member_added', 'cid by bob'],
      ['room.member_removed', 'bob by cid'],
      ['room.member_removed', 'cid by cid'],
    ]);
  });

  it('refuses bad input on every room route with 400 (or 401 without a caller) and stores nothing', async () => {
    const id = uniqueId('room');
    expect((await createRoom({ id, private: true, members: ['bob'] })).status).toBe(201);
    const before = await probe.snapshot();
    const tooMany = Array.from({ length: 1000 }, (_, i) => `u${i}`);
    const badBodies: unknown[] = [
      {},
      { id: uniqueId('r') },
      { private: true },
      { id: 'a b', private: true },
      { id: 'a.b', private: true },
      { id: 'x'.repeat(65), private: true },
      { id: 'nul\u0000', private: true },
      { id: uniqueId('r'), private: 'yes' },
      { id: uniqueId('r'), private: 1 },
      { id: uniqueId('r'), private: true, members: 'bob' },
      { id: uniqueId('r'), private: true, members: ['bob', 'no spaces'] },
      { id: uniqueId('r'), private: true, members: [42] },
      { id: uniqueId('r'), private: true, members: ['b\u0000b'] },
      { id: uniqueId('r'), private: false, members: ['bob'] },
      { id: uniqueId('r'), private: true, owner: 'ann' },
      // 1000 members besides the creator: one too many.
      { id: uniqueId('r'), private: true, members: tooMany },
      [],
      JSON.stringify('a room'),
      null,
    ];
    for (const body of badBodies) {
      const res = await createRoom(body as Record<string, unknown>);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      expect(typeof res.body.message).toBe('string');
    }
    const notJson = await http(api.url, 'POST', '/api/v1/rooms', '{"id":', {
      ...as('ann'),
      'content-type': 'application/json',
    });
    expect([notJson.status, notJson.body.error]).toEqual([400, 'invalid_json']);

    for (const body of [
      {},
      { userId: '' },
      { userId: 'a b' },
      { userId: 'bob', extra: 1 },
      { user: 'bob' },
      [],
      JSON.stringify('bob'),
    ]) {
      const res = await call('POST', `/api/v1/rooms/${id}/members`, body, 'ann');
      expect([res.status, res.body.error], JSON.stringify(body)).toEqual([400, 'invalid_request']);
    }
    for (const [method, path] of [
      ['POST', '/api/v1/rooms/a.b/members'],
      ['POST', `/api/v1/rooms/${'x'.repeat(65)}/members`],
      ['DELETE', `/api/v1/rooms/${id}/members/a%20b`],
      ['DELETE', `/api/v1/rooms/a%00b/members/bob`],
      ['GET', '/api/v1/rooms/a%20b'],
      ['GET', '/api/v1/rooms/a.b/messages'],
      ['GET', `/api/v1/rooms/${id}/messages?limit=0`],
      ['GET', `/api/v1/rooms/${id}/messages?owner=ann`],
    ] as const) {
      const res = await call(method, path, method === 'POST' ? { userId: 'cid' } : undefined, 'ann');
      expect([res.status, res.body.error], `${method} ${path}`).toEqual([400, 'invalid_request']);
    }

    // Without a caller: 401, before anything is looked at (a bad token, none, or open mode without one).
    const callers: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer not.a.token' },
      { authorization: 'Basic abc' },
    ];
    for (const headers of callers) {
      for (const [method, path, body] of [
        ['POST', '/api/v1/rooms', { id: uniqueId('r'), private: true }],
        ['POST', `/api/v1/rooms/${id}/members`, { userId: 'cid' }],
        ['DELETE', `/api/v1/rooms/${id}/members/bob`, undefined],
        ['GET', `/api/v1/rooms/${id}`, undefined],
      ] as const) {
        const res = await http(api.url, method, path, body, headers);
        expect([res.status, res.body.error], `${method} ${path} ${JSON.stringify(headers)}`).toEqual([
          401,
          'unauthorized',
        ]);
      }
    }
    for (const [method, path, body] of [
      ['POST', '/api/v1/rooms', { id: uniqueId('r'), private: true }],
      ['POST', `/api/v1/rooms/${id}/members`, { userId: 'cid' }],
      ['DELETE', `/api/v1/rooms/${id}/members/bob`, undefined],
    ] as const) {
      const res = await http(open.url, method, path, body);
      expect([res.status, res.body.error], `open mode ${method} ${path}`).toEqual([401, 'unauthorized']);
      expect(String(res.body.message)).toMatch(/who is asking/);
    }
    expect(await probe.snapshot()).toEqual(before);
  });

  it("needs a token for every history route in jwt mode, and keeps a private room's messages to its members", async () => {
    const id = uniqueId('room');
    expect((await createRoom({ id, private: true, members: ['bob'] })).status).toBe(201);
    // As the archival worker stores what members said.
    await archiveMessage(id, uniqueId('m'), 'ann');
    await archiveMessage(id, uniqueId('m'), 'bob');
    const lobby = uniqueId('lobby');
    await archiveMessage(lobby, uniqueId('m'), 'dan');

    for (const path of [
      `/api/v1/rooms/${id}/messages`,
      `/api/v1/rooms/${lobby}/messages`,
      '/api/v1/items/x/bids',
      '/api/v1/dms?with=bob',
    ]) {
      for (const headers of [{}, { authorization: 'Bearer forged.token.here' }] as Array<
        Record<string, string>
      >) {
        const res = await http(api.url, 'GET', path, undefined, headers);
        expect([res.status, res.body.error], `${path} ${JSON.stringify(headers)}`).toEqual([
          401,
          'unauthorized',
        ]);
      }
    }
    const members = messagesResponse.parse(
      (await call('GET', `/api/v1/rooms/${id}/messages`, undefined, 'bob')).body,
    );
    expect(members.messages.map((m) => m.userId).sort()).toEqual(['ann', 'bob']);
    // A non-member gets what a room that does not exist would give: the same 404 as GET /rooms/:id.
    const outsider = await call('GET', `/api/v1/rooms/${id}/messages`, undefined, 'cid');
    expect([outsider.status, outsider.body.error]).toEqual([404, 'room_not_found']);
    // Public rooms: anyone signed in.
    const pub = messagesResponse.parse(
      (await call('GET', `/api/v1/rooms/${lobby}/messages`, undefined, 'cid')).body,
    );
    expect(pub.messages).toHaveLength(1);
    expect((await call('GET', '/api/v1/items/x/bids', undefined, 'cid')).status).toBe(200);

    // Open mode: no token is nobody in particular, who sees public rooms only.
    expect((await http(open.url, 'GET', `/api/v1/rooms/${lobby}/messages`)).status).toBe(200);
    expect((await http(open.url, 'GET', `/api/v1/rooms/${id}/messages`)).status).toBe(404);
    expect((await http(open.url, 'GET', `/api/v1/rooms/${id}/messages`, undefined, as('ann'))).status).toBe(
      200,
    );
    expect((await http(open.url, 'GET', `/api/v1/rooms/${id}/messages`, undefined, as('cid'))).status).toBe(
      404,
    );

    // A member removed reads nothing more, at once.
    expect((await call('DELETE', `/api/v1/rooms/${id}/members/bob`, undefined, 'ann')).status).toBe(200);
    expect((await call('GET', `/api/v1/rooms/${id}/messages`, undefined, 'bob')).status).toBe(404);
  });
});

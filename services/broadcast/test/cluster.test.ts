import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { migrate } from '@gavel/archival/migrate';
import { roomKeys } from '@gavel/shared';
import {
  LocalRedisCluster,
  TEST_NATS_URL,
  createTestDatabase,
  freePort,
  spawnService,
  uniqueId,
  waitFor,
} from '@gavel/shared/testing';
import { TestWorld, call, connected, sio } from './helpers.js';

/**
 * Presence, the DM ledger and private rooms on a real Redis Cluster (3 primaries): the presence
 * scripts read heartbeat keys they are not given, which a cluster allows only within one hash
 * slot, so every presence key shares one tag; each DM ledger operation touches one key; a room's
 * record is where the api put it, in its id's partition slot (both compute the key alike).
 */
describe('presence, DMs and private rooms on a Redis Cluster', () => {
  let cluster: LocalRedisCluster;
  const world = new TestWorld();
  let a = '';
  let b = '';
  const sockets: Socket[] = [];
  const open = async (url: string, userId: string, deviceId?: string) => {
    const s = sio(url, { auth: { token: await world.token(userId), ...(deviceId ? { deviceId } : {}) } });
    sockets.push(s);
    await connected(s);
    return s;
  };

  beforeAll(async () => {
    cluster = await LocalRedisCluster.start({ primaries: 3 });
    ({ url: a } = await world.startInProcess({ ...cluster.env(), REPLICA_ID: 'cluster-a' }));
  }, 180_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    await world.close();
    await cluster?.deleteKeys(world.redisPrefix).catch(() => undefined);
    await cluster?.stop();
  });

  it('keeps every presence key in one slot', async () => {
    const prefix = `${world.redisPrefix}broadcast:`;
    const slots = await Promise.all(
      [
        `${prefix}{presence}:rooms`,
        `${prefix}{presence}:room:r1`,
        `${prefix}{presence}:replica:cluster-a`,
      ].map((key) => cluster.keySlot(key)),
    );
    expect(new Set(slots).size).toBe(1);
  });

  it('tracks presence across replicas and sweeps a killed replica’s members', async () => {
    const killed = await world.spawn({ ...cluster.env(), REPLICA_ID: 'cluster-b' });
    b = killed.url;
    const gil = await open(a, 'gil');
    const hal = await open(b, 'hal');
    const events: Array<{ roomId: string; userId: string; state: string }> = [];
    gil.on('presence', (p: { roomId: string; userId: string; state: string }) => events.push(p));
    expect(await call(gil, 'room:join', { roomId: 'lobby' })).toMatchObject({ ok: true });
    expect(await call(hal, 'room:join', { roomId: 'lobby' })).toMatchObject({ ok: true });
    await waitFor(() => events.some((e) => e.userId === 'hal' && e.state === 'join'), { what: 'hal joins' });
    expect(await call(gil, 'presence:get', { roomId: 'lobby' })).toMatchObject({
      ok: true,
      users: ['gil', 'hal'],
    });
    const list = await call<{ rooms: Array<{ roomId: string; members: number }> }>(gil, 'rooms:list');
    expect(list.rooms).toContainEqual({ roomId: 'lobby', members: 2 });
    // kill -9 of hal's replica: its heartbeat expires and the survivor sweeps and announces.
    await killed.kill('SIGKILL');
    await waitFor(() => events.some((e) => e.userId === 'hal' && e.state === 'leave'), {
      timeoutMs: 30_000,
      what: 'hal swept out',
    });
    expect(await call(gil, 'presence:get', { roomId: 'lobby' })).toMatchObject({ users: ['gil'] });
  }, 120_000);

  it('enforces the private rooms the api created on the cluster, and their member changes', async () => {
    const db = await createTestDatabase();
    world.defer(() => db.drop());
    await migrate(db.url);
    const port = await freePort();
    const api = await spawnService(
      'services/api/src/main.ts',
      {
        ...cluster.env(),
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: db.url,
        REDIS_PREFIX: world.redisPrefix,
        NATS_STREAM: world.topology.stream,
        EVENT_PREFIX: world.topology.prefix,
        AUTH_MODE: 'jwt',
        AUTH_SECRET: world.secret,
        CLOSER: 'false',
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
      },
      { port, timeoutMs: 120_000 },
    );
    world.defer(() => api.kill('SIGKILL'));
    const asUser = async (user: string) => ({ authorization: `Bearer ${await world.token(user)}` });
    const post = async (path: string, user: string, body: unknown) =>
      fetch(`${api.url}${path}`, {
        method: 'POST',
        headers: { ...(await asUser(user)), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    // Rooms whose records land on different shards.
    const rooms = Array.from({ length: 6 }, () => uniqueId('vault'));
    const shards = new Set(
      await Promise.all(
        rooms.map(async (id) =>
          cluster.primaryOf(await cluster.keySlot(roomKeys(world.redisPrefix, id, { cluster: true }).record)),
        ),
      ),
    );
    expect(shards.size).toBeGreaterThan(1);
    const ann = await open(a, 'ann');
    const bob = await open(a, 'bob');
    const eve = await open(a, 'eve');
    const removed: string[] = [];
    bob.on('room:removed', (r: { roomId: string }) => removed.push(r.roomId));
    for (const id of rooms) {
      expect((await post('/api/v1/rooms', 'ann', { id, private: true, members: ['bob'] })).status).toBe(201);
      expect(await call(ann, 'room:join', { roomId: id })).toMatchObject({ ok: true });
      expect(await call(bob, 'room:join', { roomId: id })).toMatchObject({ ok: true });
      expect(await call(eve, 'room:join', { roomId: id })).toMatchObject({ ok: false, code: 'forbidden' });
    }
    for (const id of rooms) {
      const res = await fetch(`${api.url}/api/v1/rooms/${id}/members/bob`, {
        method: 'DELETE',
        headers: await asUser('ann'),
      });
      expect(res.status).toBe(200);
    }
    await waitFor(() => removed.length === rooms.length, {
      timeoutMs: 60_000,
      what: 'bob taken out of every room',
    });
    expect(removed.sort()).toEqual([...rooms].sort());
  }, 240_000);

  it('delivers a DM that waited for its recipient, with its receipts', async () => {
    const ann = await open(a, 'ann');
    const delivered: Array<{ id: string }> = [];
    const read: Array<{ id: string }> = [];
    ann.on('dm:delivered', (r: { id: string }) => delivered.push(r));
    ann.on('dm:read', (r: { id: string }) => read.push(r));
    const sent = await call<{ ok: boolean; id: string }>(ann, 'dm:send', { to: 'ben', text: 'hello' });
    expect(sent.ok).toBe(true);
    const ben = await open(a, 'ben', 'laptop');
    const dms: Array<{ id: string; text: string }> = [];
    ben.on('dm', (m: { id: string; text: string }) => dms.push(m));
    await waitFor(() => dms.length === 1, { what: 'the waiting DM' });
    expect(dms[0]).toMatchObject({ id: sent.id, text: 'hello' });
    await waitFor(() => delivered.length === 1, { what: 'the delivery receipt' });
    expect(await call(ben, 'dm:read', { id: sent.id })).toMatchObject({ ok: true });
    await waitFor(() => read.length === 1, { what: 'the read receipt' });
    expect(read[0]!.id).toBe(sent.id);
  }, 60_000);
});

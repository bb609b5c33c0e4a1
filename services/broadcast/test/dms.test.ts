import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { connect } from 'nats';
import { Redis } from 'ioredis';
import { broadcastKeyPrefix, decodeEvent, subjects, type GavelEvent } from '@gavel/shared';
import { TEST_NATS_URL, TEST_REDIS_URL, uniqueId, waitFor } from '@gavel/shared/testing';
import { TestWorld, WsClient, call, connected, sio } from './helpers.js';

interface Dm {
  id: string;
  from: string;
  to: string;
  text: string;
  cursor: number;
}

interface Receipt {
  id: string;
  at: string;
  cursor: number;
}

/** Two replicas in this process; senders on one, recipients' devices on either. */
describe('direct messages that wait for their recipient', () => {
  const world = new TestWorld();
  let a = '';
  let b = '';
  const sockets: Socket[] = [];

  /** A device: a Socket.IO connection with a deviceId, recording DMs and receipts. */
  const device = async (
    url: string,
    userId: string,
    deviceId?: string,
    auth: Record<string, unknown> = {},
  ) => {
    const s = sio(url, {
      auth: { token: await world.token(userId), ...(deviceId ? { deviceId } : {}), ...auth },
    });
    sockets.push(s);
    const dms: Dm[] = [];
    const delivered: Receipt[] = [];
    const read: Receipt[] = [];
    s.on('dm', (m: Dm) => dms.push(m));
    s.on('dm:delivered', (r: Receipt) => delivered.push(r));
    s.on('dm:read', (r: Receipt) => read.push(r));
    await connected(s);
    return { socket: s, dms, delivered, read };
  };
  const send = (s: Socket, to: string, text: string, clientMsgId?: string) =>
    call<{ ok: boolean; id: string; at: string; error?: string }>(s, 'dm:send', {
      to,
      text,
      ...(clientMsgId ? { clientMsgId } : {}),
    });

  /** Every stored event of one subject. */
  const stored = async (subject: string): Promise<GavelEvent[]> => {
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(world.topology.stream);
      const out: GavelEvent[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(world.topology.stream, { seq }).catch(() => undefined);
        if (!m || m.subject !== subject) continue;
        const d = decodeEvent(m.data);
        if (d.ok) out.push(d.event);
      }
      return out;
    } finally {
      await nc.close();
    }
  };

  beforeAll(async () => {
    const extra = { CHAT_RATE_PER_S: '1000', EVENT_RATE_PER_S: '2000', FEED_LINGER_MS: '200' };
    ({ url: a } = await world.startInProcess({ ...extra, REPLICA_ID: 'dm-a' }));
    ({ url: b } = await world.startInProcess({ ...extra, REPLICA_ID: 'dm-b' }));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await world.close();
  });

  it('keeps DMs to a user who never connected, delivers them at connect in order with the same ids, and says so once', async () => {
    const alice = await device(a, 'alice');
    const sent = [];
    for (const text of ['one', 'two', 'three']) sent.push(await send(alice.socket, 'bob', text));
    expect(sent.every((s) => s.ok)).toBe(true);
    // Nobody was there for bob: one offline notice per message, the hook for a push provider.
    await waitFor(async () => (await stored(subjects(world.topology).notify('bob'))).length === 3, {
      what: 'three notify events',
    });
    const notices = await stored(subjects(world.topology).notify('bob'));
    expect(notices.map((n) => n.type === 'notify.dm' && [n.dmId, n.from, n.preview])).toEqual(
      sent.map((s, i) => [s.id, 'alice', ['one', 'two', 'three'][i]]),
    );
    expect(alice.delivered).toEqual([]);

    const phone = await device(b, 'bob', 'phone');
    await waitFor(() => phone.dms.length === 3, { what: 'the waiting DMs at the phone' });
    expect(phone.dms.map((m) => [m.id, m.from, m.to, m.text])).toEqual(
      sent.map((s, i) => [s.id, 'alice', 'bob', ['one', 'two', 'three'][i]]),
    );
    // The sender hears that each reached a device of bob's: once each.
    await waitFor(() => alice.delivered.length === 3, { what: 'three delivery receipts' });
    expect(alice.delivered.map((r) => r.id)).toEqual(sent.map((s) => s.id));
    expect(alice.delivered.every((r) => !Number.isNaN(Date.parse(r.at)))).toBe(true);

    // A reconnect of the same device gets nothing twice.
    phone.socket.close();
    const again = await device(a, 'bob', 'phone');
    const live = await send(alice.socket, 'bob', 'live now');
    await waitFor(() => again.dms.some((m) => m.id === live.id), { what: 'the live DM' });
    expect(again.dms.map((m) => m.text)).toEqual(['live now']);
    await waitFor(() => alice.delivered.length === 4);
    await new Promise((r) => setTimeout(r, 300));
    expect(alice.delivered.map((r) => r.id)).toEqual([...sent.map((s) => s.id), live.id]);
    // bob was online for the last one: no notice for it.
    expect(await stored(subjects(world.topology).notify('bob'))).toHaveLength(3);
  });

  it('a device that was offline catches up from where it was; the others are not sent anything twice', async () => {
    const carol = await device(a, 'carol');
    const phone = await device(a, 'dave', 'phone');
    const laptop = await device(b, 'dave', 'laptop');
    const first = await send(carol.socket, 'dave', 'both of you');
    await waitFor(() => phone.dms.length === 1 && laptop.dms.length === 1, { what: 'the first DM twice' });
    await waitFor(() => carol.delivered.length === 1);
    laptop.socket.close();
    // Wait until the laptop's session is gone on its replica.
    await new Promise((r) => setTimeout(r, 300));
    const missed = [];
    for (const n of [1, 2, 3, 4]) missed.push(await send(carol.socket, 'dave', `while away ${n}`));
    await waitFor(() => phone.dms.length === 5, { what: 'the phone live' });

    const back = await device(a, 'dave', 'laptop');
    await waitFor(() => back.dms.length === 4, { what: 'the laptop catch-up' });
    expect(back.dms.map((m) => m.id)).toEqual(missed.map((m) => m.id));
    const cursors = back.dms.map((m) => m.cursor);
    expect([...cursors].sort((x, y) => x - y)).toEqual(cursors);
    const after = await send(carol.socket, 'dave', 'after');
    await waitFor(() => back.dms.length === 5 && phone.dms.length === 6);
    expect(back.dms.at(-1)?.id).toBe(after.id);
    expect(phone.dms.map((m) => m.id)).toEqual([first.id, ...missed.map((m) => m.id), after.id]);
    // Receipts: once per message, although two devices got most of them.
    await waitFor(() => carol.delivered.length === 6);
    await new Promise((r) => setTimeout(r, 300));
    expect(new Set(carol.delivered.map((r) => r.id)).size).toBe(6);
    expect(carol.delivered).toHaveLength(6);
  });

  it('sends the sender’s other devices a copy, and the sender its receipts even when it was away', async () => {
    const erin = await device(a, 'erin', 'desk');
    const erinPhone = await device(b, 'erin', 'phone');
    const msg = await send(erin.socket, 'frank', 'are you there?');
    await waitFor(() => erinPhone.dms.length === 1, { what: 'the copy on the other device' });
    expect(erinPhone.dms[0]).toMatchObject({ id: msg.id, from: 'erin', to: 'frank', text: 'are you there?' });
    await new Promise((r) => setTimeout(r, 200));
    expect(erin.dms).toEqual([]);
    erin.socket.close();
    erinPhone.socket.close();
    await new Promise((r) => setTimeout(r, 300));

    const frank = await device(b, 'frank');
    await waitFor(() => frank.dms.length === 1);
    const readAck = await call<{ ok: boolean; id: string; at: string }>(frank.socket, 'dm:read', {
      id: msg.id,
    });
    expect(readAck).toMatchObject({ ok: true, id: msg.id });
    // Marking it read again answers with the first time and sends no second receipt.
    expect(await call(frank.socket, 'dm:read', { id: msg.id })).toEqual(readAck);

    // erin comes back on her desk: she catches up on the receipts she missed, in order.
    const desk = await device(a, 'erin', 'desk');
    await waitFor(() => desk.delivered.length === 1 && desk.read.length === 1, { what: 'receipts' });
    expect(desk.delivered[0]?.id).toBe(msg.id);
    expect(desk.read).toEqual([{ id: msg.id, at: readAck.at, cursor: expect.any(Number) }]);
    // Receipts carry their place in erin's feed, after the copy of the message she sent.
    expect(desk.delivered[0]!.cursor).toBeLessThan(desk.read[0]!.cursor);
    expect(desk.dms).toEqual([]);
  });

  it('resumes a device after the cursor it names, even where the kept position is behind (a replica killed before it wrote it)', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const lee = await device(a, 'lee');
      const phone = await device(b, 'mia', 'phone');
      const sent = [await send(lee.socket, 'mia', 'one'), await send(lee.socket, 'mia', 'two')];
      await waitFor(() => phone.dms.length === 2 && lee.delivered.length === 2, { what: 'both DMs' });
      const had = phone.dms.at(-1)!.cursor;
      phone.socket.close();
      // What a kill -9 between a send and the position's write leaves: the device's place forgotten.
      // (Once the last write is in, so that none lands after.)
      const positions = `${broadcastKeyPrefix(world.redisPrefix)}dmpos:mia`;
      const forget = async (cursor: number) => {
        await waitFor(async () => Number(await redis.hget(positions, 'phone')) === cursor, {
          what: 'the device position written',
        });
        await redis.del(positions);
      };
      await forget(had);

      // Without a cursor the server can only go by what it kept: both come again, same ids.
      const forgetful = await device(a, 'mia', 'phone');
      await waitFor(() => forgetful.dms.length === 2, { what: 'the replay from the start' });
      expect(forgetful.dms.map((m) => m.id)).toEqual(sent.map((s) => s.id));
      forgetful.socket.close();
      await forget(had);

      // Naming the newest cursor it has, the device gets only what came after.
      const three = await send(lee.socket, 'mia', 'three');
      const resumed = await device(b, 'mia', 'phone', { dmAfterCursor: had });
      await waitFor(() => resumed.dms.some((m) => m.id === three.id), { what: 'the DM after the cursor' });
      expect(resumed.dms.map((m) => m.id)).toEqual([three.id]);
      const newest = resumed.dms[0]!.cursor;
      resumed.socket.close();
      await forget(newest);

      // /ws names it in the query string.
      const four = await send(lee.socket, 'mia', 'four');
      const ws = await WsClient.open(
        a,
        `token=${await world.token('mia')}&deviceId=phone&dmAfterCursor=${newest}`,
      );
      const first = await ws.next((f) => f.type === 'dm');
      expect(first).toMatchObject({ id: four.id, text: 'four' });
      ws.close();

      // A cursor that is not a whole number ≥ 0 is refused at the handshake, on both transports.
      const token = await world.token('mia');
      for (const dmAfterCursor of [-1, 1.5, 'x', null]) {
        const s = sio(a, { auth: { token, dmAfterCursor } });
        sockets.push(s);
        await expect(connected(s)).rejects.toThrow(/^invalid_payload: "dmAfterCursor"/);
      }
      for (const bad of ['-1', '1.5', 'x', '', '9'.repeat(20)]) {
        await expect(WsClient.open(a, `token=${token}&dmAfterCursor=${bad}`)).rejects.toThrow('HTTP 400');
      }
    } finally {
      redis.disconnect();
    }
  });

  it('/ws: seed 003 private messages, offline delivery at connect, read receipts by frame', async () => {
    const gil = await WsClient.open(a, `token=${await world.token('gil')}&username=Gil`);
    const sent = await gil.request({ type: 'private', to: 'hana', message: 'hello hana' });
    expect(sent).toMatchObject({ type: 'ack', for: 'private', id: expect.stringMatching(/^dm_/) });
    const hana = await WsClient.open(b, `token=${await world.token('hana')}&deviceId=tablet`);
    const dm = await hana.next((f) => f.type === 'dm');
    expect(dm).toMatchObject({ id: sent.id, from: 'gil', to: 'hana', text: 'hello hana', username: 'Gil' });
    await gil.next((f) => f.type === 'dm:delivered' && f.id === sent.id);
    expect(await hana.request({ type: 'read', id: sent.id })).toMatchObject({
      type: 'ack',
      for: 'read',
      id: sent.id,
    });
    await gil.next((f) => f.type === 'dm:read' && f.id === sent.id);
    gil.close();
    hana.close();
  });

  it('refuses bad DM input and other users’ messages, delivering and storing nothing', async () => {
    const ivan = await device(a, 'ivan');
    const judy = await device(b, 'judy');
    const kim = await device(b, 'kim');
    const toKim = await send(judy.socket, 'kim', 'for kim only');
    await waitFor(() => kim.dms.length === 1);
    const cases: Array<[string, unknown, string, RegExp]> = [
      ['dm:send', { to: 'a.b', text: 'x' }, 'invalid_payload', /"to"/],
      ['dm:send', { to: 'kim' }, 'invalid_payload', /"text" is required/],
      ['dm:send', { to: 'kim', text: 'x'.repeat(2001) }, 'invalid_payload', /"text" must be at most 2000/],
      ['dm:send', { to: 'kim', text: 'nul\u0000byte' }, 'invalid_payload', /control characters/],
      [
        'dm:send',
        { to: 'kim', text: 'x', clientMsgId: 'spaces not allowed' },
        'invalid_payload',
        /"clientMsgId"/,
      ],
      ['dm:send', { to: 'x'.repeat(65), text: 'x' }, 'invalid_payload', /"to"/],
      ['dm:read', {}, 'invalid_payload', /"id" is required/],
      ['dm:read', { id: 42 }, 'invalid_payload', /"id"/],
      ['dm:read', { id: 'dm_' + 'x'.repeat(200) }, 'invalid_payload', /"id"/],
      ['dm:read', { id: 'dm_doesnotexist' }, 'not_found', /no direct message/],
      // Someone else's message: as if it did not exist.
      ['dm:read', { id: toKim.id }, 'not_found', /no direct message/],
    ];
    for (const [event, payload, code, message] of cases) {
      const ack = await call<{ ok: boolean; error: string; code: string; message: string }>(
        ivan.socket,
        event,
        payload,
      );
      expect(ack, `${event} ${JSON.stringify(payload).slice(0, 50)}`).toMatchObject({
        ok: false,
        error: code,
        code,
      });
      expect(ack.message).toMatch(message);
      expect(ack.message).not.toMatch(/✖|→|Invalid input/);
    }
    await new Promise((r) => setTimeout(r, 300));
    // Nothing reached kim, and judy got no read receipt from ivan's attempt.
    expect(kim.dms).toHaveLength(1);
    expect(judy.read).toEqual([]);
    expect((await stored(subjects(world.topology).dm('kim'))).map((e) => e.type)).toEqual(['dm.message']);
    // /ws with its own field names.
    const ws = await WsClient.open(a, `token=${await world.token('ivan')}`);
    expect(await ws.request({ type: 'private', to: 'kim' })).toMatchObject({
      type: 'error',
      code: 'invalid_payload',
      message: '"message" is required',
    });
    expect(await ws.request({ type: 'read', id: toKim.id })).toMatchObject({
      type: 'error',
      code: 'not_found',
    });
    ws.close();
  });

  it('dedupes a retried dm:send by clientMsgId: one message, one copy, one receipt', async () => {
    const lea = await device(a, 'lea');
    const max = await device(b, 'max');
    const clientMsgId = uniqueId('c');
    const first = await send(lea.socket, 'max', 'once', clientMsgId);
    const retry = await send(lea.socket, 'max', 'once', clientMsgId);
    expect(retry).toEqual(first);
    await waitFor(() => max.dms.length === 1 && lea.delivered.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(max.dms).toHaveLength(1);
    expect(lea.delivered).toHaveLength(1);
    expect(
      (await stored(subjects(world.topology).dm('max'))).filter((e) => e.type === 'dm.message'),
    ).toHaveLength(1);
  });
});

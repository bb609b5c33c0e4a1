import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_FRAME_BYTES,
  ackErrorSchema,
  clientCommands,
  errorCodes,
  isCommandName,
  roomKeys,
  subjects,
  wsFrames,
  wsReplyFrames,
} from '@gavel/shared';
import { TEST_NATS_URL, TEST_REDIS_URL, waitFor } from '@gavel/shared/testing';
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import { TestWorld, call, connected, range, recordBids, sio } from './helpers.js';

/**
 * Property-based fuzzing of the client protocol: every Socket.IO event and every `/ws` frame
 * the protocol declares (and names it does not), with well-formed payloads whose fields are
 * dropped, retyped or added, and garbage of every shape, including frames over the size limit,
 * binary and non-JSON. Whatever arrives: an answer of the declared shape (ok with the command's
 * result, or a stable error code), nothing stored on a refusal, no crash, no unhandled
 * rejection, and another client watching an item still gets every bid once, in order. A private
 * room the fuzzer is no member of, where a member keeps chatting, never lets it in, never shows
 * up in its rooms:list, and none of its events reach the fuzzer.
 */

const ITEM = 'fz_item';
const ROOM = 'fz_room';
/** A private room of PEER's: to the fuzzer it must not exist, whatever it sends. */
const PRIVATE = 'fz_private';
const PEER = 'fz_peer';
const FUZZER = 'fz_user';

/** The room a well-formed payload names: mostly the public one, sometimes the private one. */
const roomArb = fc.constantFrom(ROOM, ROOM, PRIVATE);

/** A well-formed payload of each command (Socket.IO names; a field may be an arbitrary); others get anything. */
const EXAMPLES: Readonly<Record<string, Record<string, unknown>>> = {
  'item:watch': { itemId: ITEM, afterSeq: 0 },
  'item:unwatch': { itemId: ITEM },
  'room:join': { roomId: roomArb, afterCursor: 0 },
  'room:leave': { roomId: roomArb },
  'chat:send': { roomId: roomArb, text: 'hello', clientMsgId: 'cm' },
  'dm:send': { to: PEER, text: 'psst', clientMsgId: 'dm' },
  'dm:read': { id: 'dm_abc' },
  'rooms:list': {},
  'presence:get': { roomId: roomArb },
};

/** The same for `/ws` frames (seed 003's names). */
const WS_EXAMPLES: Readonly<Record<string, Record<string, unknown>>> = {
  watch: { itemId: ITEM, afterSeq: 0 },
  unwatch: { itemId: ITEM },
  join: { room: roomArb, after: 0 },
  leave: { room: roomArb },
  chat: { room: roomArb, message: 'hello', clientMsgId: 'cm' },
  private: { to: PEER, message: 'psst', clientMsgId: 'dm' },
  read: { id: 'dm_abc' },
  rooms: {},
  presence: { room: roomArb },
};

/** Names Socket.IO's client refuses to emit. */
const RESERVED = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

const text = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ minLength: 65, maxLength: 300 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\t\n', '__proto__', 'constructor', 'dm_', '-1'),
);
const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 3 }), text);
/** An example's field: its value (or one of an arbitrary's), retyped, dropped or a near miss. */
const field = (value: unknown) =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: value instanceof fc.Arbitrary ? (value as fc.Arbitrary<unknown>) : fc.constant(value),
    },
    { weight: 2, arbitrary: anyJson },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom(null, 0, -1, 1.5, 2 ** 53, '1', true, [], {}) },
  );
/** Mostly a mutation of `example` (a fresh clientMsgId each time), sometimes anything at all. */
const payloadOf = (example: Record<string, unknown> | undefined) =>
  fc.oneof(
    {
      weight: example ? 6 : 0,
      arbitrary: fc
        .record(Object.fromEntries(Object.entries(example ?? {}).map(([k, v]) => [k, field(v)])))
        .chain((p) =>
          fc
            .option(fc.dictionary(text, anyJson, { maxKeys: 2 }), { nil: undefined })
            .map((extra) => ({ ...extra, ...p })),
        ),
    },
    { weight: 2, arbitrary: anyJson },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

const sioCall = fc
  .oneof(
    { weight: 8, arbitrary: fc.constantFrom(...Object.keys(clientCommands)) },
    { weight: 1, arbitrary: text.filter((n) => n.length > 0 && !RESERVED.has(n)) },
  )
  .chain((name) =>
    fc.record({
      name: fc.constant(name),
      payload: payloadOf(EXAMPLES[name]),
      withAck: fc.oneof(
        { weight: 9, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
      oversize: fc.oneof(
        { weight: 30, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    }),
  );

const wsFrame = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .oneof(
        { weight: 8, arbitrary: fc.constantFrom(...Object.keys(wsFrames)) },
        { weight: 1, arbitrary: text },
      )
      .chain((type) =>
        fc.record({
          kind: fc.constant('object' as const),
          frame: payloadOf(WS_EXAMPLES[type]).map((p) =>
            p && typeof p === 'object' && !Array.isArray(p) ? { ...p, type } : p,
          ),
          reqId: fc.oneof(fc.uuid(), fc.integer(), fc.constant(undefined), anyJson),
        }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('text' as const), text: fc.string({ maxLength: 100 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('binary' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'oversize' as const }) },
);

describe('the client protocol under property-based fuzzing', () => {
  const world = new TestWorld();
  let url = '';
  let token = '';
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let watcher: Socket;
  let watched: number[] = [];
  let published = 0;
  let nc: NatsConnection | undefined;
  let peer: Socket;
  let redis: Redis | undefined;
  /** Everything the fuzzer's connections were sent that names the private room. */
  const leaked: unknown[] = [];
  const namesPrivate = (payload: unknown) =>
    typeof payload === 'object' && payload !== null && Object.values(payload).includes(PRIVATE);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    ({ url } = await world.startInProcess({
      EVENT_RATE_PER_S: '100000',
      CHAT_RATE_PER_S: '100000',
      MAX_ROOMS_PER_CONNECTION: '50',
    }));
    token = await world.token(FUZZER);
    // Another client, watching the item from the start: fuzzing must not disturb what it gets.
    watcher = sio(url, { auth: { token: await world.token('fz_watcher') } });
    await connected(watcher);
    watched = recordBids(watcher);
    expect(await call(watcher, 'item:watch', { itemId: ITEM })).toMatchObject({ ok: true });
    peer = sio(url, { auth: { token: await world.token(PEER) } });
    await connected(peer);
    world.defer(() => peer.close());
    // The private room as the api records it (its keys are @gavel/shared's), with the peer in it.
    const keys = roomKeys(world.redisPrefix, PRIVATE);
    redis = new Redis(TEST_REDIS_URL);
    await redis.hset(keys.record, { private: '1', createdBy: PEER, createdAt: String(Date.now()) });
    await redis.sadd(keys.members, PEER);
    expect(await call(peer, 'room:join', { roomId: PRIVATE })).toMatchObject({ ok: true });
    world.defer(() => watcher.close());
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await nc?.close();
    await redis?.quit();
    await world.close();
  });

  /** Message counts of the subjects a refused chat or DM must not have added to. */
  const contentCounts = async (): Promise<string> => {
    nc ??= await connect({ servers: TEST_NATS_URL });
    const jsm = await nc.jetstreamManager();
    const s = subjects(world.topology);
    const counts: Record<string, number> = {};
    for (const filter of [s.allChat, s.dm(PEER)]) {
      const info = await jsm.streams.info(world.topology.stream, { subjects_filter: filter });
      Object.assign(counts, info.state.subjects ?? {});
    }
    return JSON.stringify(counts);
  };

  /** A bid on the watched item now and then, as the api would publish it; a word in the private room. */
  const maybePublishBid = async () => {
    if (Math.random() < 0.2) await world.publishBid(ITEM, ++published);
    if (Math.random() < 0.1) await call(peer, 'chat:send', { roomId: PRIVATE, text: 'members only' });
  };

  /** What the private room must never do for the fuzzer: admit it, show it, take its chat. */
  const checkPrivate = (name: string, payload: unknown, ack: Record<string, unknown>, what: string) => {
    const named = typeof payload === 'object' && payload !== null && (payload as Record<string, unknown>);
    const room = named ? (named.roomId ?? named.room) : undefined;
    if (
      room === PRIVATE &&
      ['room:join', 'presence:get', 'chat:send', 'join', 'presence', 'chat'].includes(name)
    ) {
      expect(ack.ok === true || ack.type === 'ack', `${what}: the private room let the fuzzer in`).toBe(
        false,
      );
    }
    const rooms = ack.rooms as Array<{ roomId: string }> | undefined;
    if (Array.isArray(rooms))
      expect(
        rooms.map((r) => r.roomId),
        what,
      ).not.toContain(PRIVATE);
  };

  it('answers every Socket.IO event by the protocol and stores nothing it refused', async () => {
    const open = async () => {
      const s = sio(url, { auth: { token } });
      s.onAny((_event: string, payload: unknown) => {
        if (namesPrivate(payload)) leaked.push(payload);
      });
      await connected(s);
      return s;
    };
    let socket = await open();
    let answered = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(sioCall, async (c) => {
        await maybePublishBid();
        if (!socket.connected) {
          socket.close();
          socket = await open();
        }
        let payload = c.payload;
        if (c.name === 'chat:send' || c.name === 'dm:send') {
          if (
            payload &&
            typeof payload === 'object' &&
            'clientMsgId' in payload &&
            payload.clientMsgId === 'cm'
          )
            payload = { ...payload, clientMsgId: randomUUID() };
        }
        if (c.oversize)
          payload = {
            ...(typeof payload === 'object' ? payload : {}),
            pad: 'x'.repeat(MAX_FRAME_BYTES + 10),
          };
        const before = await contentCounts();
        if (!c.withAck) {
          socket.emit(c.name, payload);
          if (c.oversize) {
            await waitFor(() => !socket.connected, {
              timeoutMs: 15_000,
              what: 'the oversize connection to close',
            });
            return;
          }
          // Still answering afterwards.
          expect(await call(socket, 'rooms:list')).toMatchObject({ ok: true });
          return;
        }
        let ack: Record<string, unknown>;
        try {
          ack = (await socket.timeout(15_000).emitWithAck(c.name, payload)) as Record<string, unknown>;
        } catch (err) {
          // Only a frame over the size limit may go unanswered: the server closes that connection.
          expect(c.oversize, `${c.name} ${JSON.stringify(payload)?.slice(0, 200)}: ${String(err)}`).toBe(
            true,
          );
          await waitFor(() => !socket.connected, {
            timeoutMs: 15_000,
            what: 'the oversize connection to close',
          });
          return;
        }
        const what = `${c.name} ${JSON.stringify(payload)?.slice(0, 200)} → ${JSON.stringify(ack).slice(0, 300)}`;
        answered++;
        checkPrivate(c.name, payload, ack, what);
        if (ack.ok === true) {
          expect(isCommandName(c.name), what).toBe(true);
          if (isCommandName(c.name))
            expect(clientCommands[c.name].result.safeParse(ack).success, what).toBe(true);
          return;
        }
        refused++;
        expect(ackErrorSchema.safeParse(ack).success, what).toBe(true);
        if (!isCommandName(c.name)) expect(ack.code, what).toBe('unknown_event');
        expect(await contentCounts(), `${what}: something was stored`).toBe(before);
      }),
      // A loaded machine runs fewer in the time, rather than failing on time.
      { numRuns: 300, interruptAfterTimeLimit: 90_000, endOnFailure: true },
    );
    socket.close();
    console.log(`fuzzed Socket.IO: ${answered} answered, ${refused} refused`);
    expect(leaked, 'the private room reached the fuzzer').toEqual([]);
    expect(refused).toBeGreaterThan(20);
    expect(answered - refused).toBeGreaterThan(20);
    expect(unhandled).toEqual([]);
  }, 300_000);

  it('answers every /ws frame by the protocol and stores nothing it refused', async () => {
    const wsUrl = `${url.replace('http', 'ws')}/ws?token=${token}`;
    const open = async () => {
      const ws = new WebSocket(wsUrl);
      const frames: Array<Record<string, unknown>> = [];
      let closeCode: number | undefined;
      ws.on('message', (d) => {
        const frame = JSON.parse(String(d)) as Record<string, unknown>;
        frames.push(frame);
        // Answers name what it sent (checkPrivate judges them); anything else naming the private room leaks.
        if (frame.type !== 'error' && frame.type !== 'ack' && namesPrivate(frame)) leaked.push(frame);
      });
      ws.on('close', (code) => (closeCode = code));
      ws.on('error', () => undefined);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      return { ws, frames, closeCode: () => closeCode };
    };
    let client = await open();
    let answered = 0;
    let refused = 0;
    const isAnswer = (f: Record<string, unknown>) =>
      f.type === 'ack' || f.type === 'rooms' || f.type === 'error';
    await fc.assert(
      fc.asyncProperty(wsFrame, async (f) => {
        await maybePublishBid();
        if (client.closeCode() !== undefined) client = await open();
        const seen = client.frames.length;
        const before = await contentCounts();
        let sent: unknown;
        if (f.kind === 'oversize') {
          client.ws.send(
            JSON.stringify({ type: 'chat', room: ROOM, message: 'x'.repeat(MAX_FRAME_BYTES + 10) }),
          );
          // Too large for the server to read: it closes the connection (1009), as declared.
          await waitFor(() => client.closeCode() !== undefined, {
            timeoutMs: 15_000,
            what: 'close on an oversize frame',
          });
          expect(client.closeCode()).toBe(1009);
          return;
        }
        if (f.kind === 'text') client.ws.send((sent = `not json ${f.text}`));
        else if (f.kind === 'binary') client.ws.send((sent = Buffer.from(f.bytes)));
        else {
          let frame: unknown = f.frame;
          if (frame && typeof frame === 'object' && !Array.isArray(frame)) {
            const fields = frame as Record<string, unknown>;
            frame = {
              ...fields,
              ...(fields.clientMsgId === 'cm' || fields.clientMsgId === 'dm'
                ? { clientMsgId: randomUUID() }
                : {}),
            };
            if (f.reqId !== undefined) frame = { ...(frame as object), reqId: f.reqId };
          }
          sent = frame;
          client.ws.send(JSON.stringify(frame ?? null));
        }
        const answer = await waitFor(() => client.frames.slice(seen).find(isAnswer), {
          timeoutMs: 15_000,
          what: 'an answer',
        });
        const what = `${JSON.stringify(sent)?.slice(0, 200)} → ${JSON.stringify(answer).slice(0, 300)}`;
        answered++;
        if (f.kind === 'object' && f.frame && typeof f.frame === 'object' && !Array.isArray(f.frame))
          checkPrivate(String((f.frame as Record<string, unknown>).type), f.frame, answer, what);
        const frameObject =
          f.kind === 'object' && f.frame && typeof f.frame === 'object' && !Array.isArray(f.frame)
            ? (f.frame as Record<string, unknown>)
            : null;
        const reqId = f.kind === 'object' ? f.reqId : undefined;
        const validReqId = typeof reqId === 'number' || (typeof reqId === 'string' && reqId.length <= 128);
        if (answer.type === 'error') {
          refused++;
          expect(wsReplyFrames.error.safeParse(answer).success, what).toBe(true);
          expect(Object.keys(errorCodes), what).toContain(answer.code);
          if (f.kind === 'text') expect(answer.code, what).toBe('not_json');
          if (f.kind === 'binary' || !frameObject)
            expect(answer.code, what).toBe(f.kind === 'text' ? 'not_json' : 'invalid_frame');
          expect(await contentCounts(), `${what}: something was stored`).toBe(before);
        } else {
          expect(frameObject, what).not.toBeNull();
          expect(Object.keys(wsFrames), what).toContain(frameObject?.type);
          if (answer.type === 'ack') expect(answer.for, what).toBe(frameObject?.type);
        }
        if (frameObject && validReqId && answer.type !== 'error') expect(answer.reqId, what).toEqual(reqId);
      }),
      // A loaded machine runs fewer in the time, rather than failing on time.
      { numRuns: 300, interruptAfterTimeLimit: 90_000, endOnFailure: true },
    );
    client.ws.close();
    console.log(`fuzzed /ws: ${answered} answered, ${refused} refused`);
    expect(leaked, 'the private room reached the fuzzer').toEqual([]);
    expect(refused).toBeGreaterThan(20);
    expect(answered - refused).toBeGreaterThan(20);
    expect(unhandled).toEqual([]);
  }, 300_000);

  it('refuses a bad handshake on either transport with a clear error, and admits a good one', async () => {
    const tokenArb = fc.oneof(
      { weight: 4, arbitrary: fc.constant(token) },
      fc.constant(undefined),
      text,
      fc.constant(`${token}x`),
      fc.constant('x'.repeat(5000)),
    );
    const handshake = fc.record({
      token: tokenArb,
      userId: fc.option(fc.oneof(fc.constant(FUZZER), text), { nil: undefined, freq: 2 }),
      username: fc.option(fc.oneof(fc.constant('Fuzzy'), text), { nil: undefined, freq: 2 }),
      deviceId: fc.option(fc.oneof(fc.constant('phone'), text), { nil: undefined, freq: 2 }),
      dmAfterCursor: fc.option(fc.oneof(fc.nat(), fc.integer(), fc.double(), text), {
        nil: undefined,
        freq: 2,
      }),
    });
    let admitted = 0;
    let turnedAway = 0;
    await fc.assert(
      fc.asyncProperty(handshake, anyJson, fc.boolean(), async (h, junk, useJunk) => {
        const auth = useJunk && junk && typeof junk === 'object' ? (junk as Record<string, unknown>) : h;
        const socket = sio(url, {
          auth: Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined)),
        });
        try {
          const outcome = await new Promise<string>((resolve) => {
            socket.once('session', (session: { userId: string }) => resolve(`session ${session.userId}`));
            socket.once('connect_error', (err) => resolve(`refused ${err.message}`));
          });
          if (outcome.startsWith('session')) {
            admitted++;
            expect(outcome, JSON.stringify(auth)).toBe(`session ${FUZZER}`);
          } else {
            turnedAway++;
            expect(outcome, JSON.stringify(auth)).toMatch(/^refused (unauthorized|invalid_payload: .+)$/);
          }
        } finally {
          socket.close();
        }
      }),
      { numRuns: 60, interruptAfterTimeLimit: 60_000, endOnFailure: true },
    );
    const query = fc.dictionary(
      fc.oneof(
        {
          weight: 4,
          arbitrary: fc.constantFrom('token', 'userId', 'username', 'roomId', 'deviceId', 'dmAfterCursor'),
        },
        text,
      ),
      fc.oneof({ weight: 3, arbitrary: fc.constant(token) }, text),
      { maxKeys: 4 },
    );
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const search = new URLSearchParams(q).toString();
        const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?${search}`);
        try {
          const outcome = await new Promise<{ status: number } | { welcome: Record<string, unknown> }>(
            (resolve, reject) => {
              ws.once('message', (d) =>
                resolve({ welcome: JSON.parse(String(d)) as Record<string, unknown> }),
              );
              ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
              ws.once('error', reject);
            },
          );
          if ('status' in outcome) {
            turnedAway++;
            expect(outcome.status, search).toBeGreaterThanOrEqual(400);
            expect(outcome.status, search).toBeLessThan(500);
          } else {
            admitted++;
            expect(outcome.welcome, search).toMatchObject({ type: 'welcome', userId: FUZZER });
          }
        } finally {
          ws.terminate();
        }
      }),
      { numRuns: 60, interruptAfterTimeLimit: 60_000, endOnFailure: true },
    );
    expect(admitted).toBeGreaterThan(5);
    expect(turnedAway).toBeGreaterThan(5);
    expect(unhandled).toEqual([]);
  }, 300_000);

  it('kept delivering every bid once, in order, to a client watching meanwhile', async () => {
    await world.publishBid(ITEM, ++published);
    await waitFor(() => watched.length >= published, { timeoutMs: 30_000, what: 'every bid at the watcher' });
    expect(watched).toEqual(range(1, published));
    const live = await fetch(`${url}/livez`);
    expect(live.status).toBe(200);
    expect(unhandled).toEqual([]);
  });
});

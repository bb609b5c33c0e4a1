import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '@gavel/archival/migrate';
import { signToken } from '@gavel/shared';
import { createTestDatabase, type TestDatabase } from '@gavel/shared/testing';
import { RedisProbe, cleanupNames, startApi, testNames, type TestApi } from './helpers.js';

/**
 * Property-based fuzzing of every HTTP route: random methods' worth of params, queries, bodies
 * (well-formed ones with fields dropped, retyped or added, and garbage), tokens and
 * Idempotency-Keys. Whatever arrives: no 5xx, an error body on every 4xx, Redis unchanged by
 * a refusal or a read, and the bids of the fuzzed item stay gapless (seq = bid count) with a
 * highest bid that never goes down; the fuzzed private room keeps a member, and its member list
 * is what its announced events say. No unhandled rejection anywhere in the process.
 */

const SECRET = 'fuzz-secret-0123456789abcdef0123';
const ITEM = 'fuzz_item';
/** A private room of USER's, so that the member routes have something to manage. */
const ROOM = 'fuzz_room';
const USER = 'fuzzer';

type Auth = 'self' | 'other' | 'none' | 'garbage' | 'wrong-secret' | 'expired' | 'alg-none';

interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  /** Fields of a request this route accepts: the fuzzer keeps, drops, retypes or adds to them. */
  readonly body?: Record<string, unknown>;
  readonly query?: Record<string, string>;
  /** Whether a success changes Redis (creates an item or a room, places a bid, changes members). */
  readonly writes?: boolean;
}

const future = () => new Date(Date.now() + 3_600_000).toISOString();

/** Every route the api serves, with a well-formed request of each. */
const ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST',
    path: '/api/v1/items',
    body: { id: 'x', title: 'A lamp', startingPrice: '1.00', minIncrement: '0.01', endsAt: 'future' },
    writes: true,
  },
  { method: 'GET', path: '/api/v1/items', query: { status: 'open', limit: '10' } },
  { method: 'GET', path: '/api/v1/items/:id' },
  { method: 'POST', path: '/api/v1/items/:id/bid', body: { amount: 'next', userId: USER }, writes: true },
  { method: 'GET', path: '/api/v1/items/:id/bids', query: { after: '0', limit: '10' } },
  { method: 'POST', path: '/api/v1/rooms', body: { id: 'x', private: true, members: ['bob'] }, writes: true },
  { method: 'GET', path: '/api/v1/rooms/:id' },
  { method: 'POST', path: '/api/v1/rooms/:id/members', body: { userId: 'bob' }, writes: true },
  { method: 'DELETE', path: '/api/v1/rooms/:id/members/:userId', writes: true },
  { method: 'GET', path: '/api/v1/rooms/:id/messages', query: { before: 'now', limit: '10' } },
  { method: 'GET', path: '/api/v1/dms', query: { with: 'bob', limit: '10' } },
  { method: 'POST', path: '/api/v1/dev/token', body: { userId: USER } },
  { method: 'GET', path: '/health' },
  { method: 'GET', path: '/livez' },
  { method: 'GET', path: '/readyz' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/docs' },
  { method: 'GET', path: '/docs/' },
  { method: 'GET', path: '/docs/json' },
  { method: 'GET', path: '/docs/yaml' },
  { method: 'GET', path: '/docs/static/index.html' },
  { method: 'GET', path: '/docs/static/swagger-initializer.js' },
];

/** Strings a client may send: valid ids, unicode, controls, long ones, numbers as text. */
const text = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ minLength: 65, maxLength: 400 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '..', '%00', '-1', '1e309', 'NaN', '0x10', '__proto__'),
  fc.integer().map(String),
  fc.double().map(String),
);

/** A JSON value of any shape, including ones no schema expects. */
const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 3 }), text);

/** A field of a well-formed body: kept, replaced by anything, or a plausible near miss. */
const field = (value: unknown) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(value) },
    { weight: 2, arbitrary: anyJson },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom(null, 0, -1, 1.005, '1.005', '10', 10, true, [], {}) },
  );

const bodyArb = (spec: RouteSpec) => {
  if (!spec.body) return fc.option(anyJson, { nil: undefined });
  const shaped = fc
    .record(Object.fromEntries(Object.entries(spec.body).map(([k, v]) => [k, field(v)])))
    .chain((b) =>
      fc
        .option(fc.dictionary(text, anyJson, { maxKeys: 2 }), { nil: undefined })
        .map((extra) => ({ ...extra, ...b })),
    );
  return fc.oneof({ weight: 5, arbitrary: shaped }, { weight: 1, arbitrary: anyJson });
};

const queryArb = (spec: RouteSpec) =>
  fc.oneof(
    fc.record(
      Object.fromEntries(
        Object.entries(spec.query ?? {}).map(([k, v]) => [
          k,
          fc.option(fc.oneof(fc.constant(v), text), { nil: undefined }),
        ]),
      ),
    ),
    fc.dictionary(fc.oneof(text, fc.constantFrom('after', 'limit', 'before', 'with', 'status')), text, {
      maxKeys: 3,
    }),
  );

// Bids are where the invariants live: they get as many requests as all other routes together;
// the member routes (the room's invariant) half as many again.
const routeArb = fc.oneof(
  { weight: ROUTES.length, arbitrary: fc.constant(ROUTES.find((r) => r.path.endsWith('/bid'))!) },
  { weight: ROUTES.length, arbitrary: fc.constantFrom(...ROUTES) },
  {
    weight: ROUTES.length / 2,
    arbitrary: fc.constantFrom(...ROUTES.filter((r) => r.path.startsWith('/api/v1/rooms/:id/members'))),
  },
);

const requestArb = routeArb.chain((spec) =>
  fc.record({
    spec: fc.constant(spec),
    id: fc.oneof(
      { weight: 3, arbitrary: fc.constant(ITEM) },
      { weight: 2, arbitrary: fc.constant(ROOM) },
      { weight: 2, arbitrary: text },
    ),
    member: fc.oneof(fc.constantFrom(USER, 'bob', 'someone_else'), text),
    query: queryArb(spec),
    body: bodyArb(spec),
    // Mostly the JSON of `body`; sometimes text that is not JSON, or a body over the limit.
    rawBody: fc.oneof(
      { weight: 10, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.string({ maxLength: 50 }) },
      { weight: 1, arbitrary: fc.constant('x'.repeat(20_000)) },
    ),
    contentType: fc.constantFrom(
      'application/json',
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      undefined,
    ),
    auth: fc.constantFrom<Auth>(
      'self',
      'self',
      'self',
      'other',
      'none',
      'garbage',
      'wrong-secret',
      'expired',
      'alg-none',
    ),
    idempotencyKey: fc.option(
      fc.oneof(fc.uuid(), fc.stringMatching(/^[\x21-\x7e]{1,140}$/), fc.constantFrom('', ' ', 'a b')),
      {
        nil: undefined,
      },
    ),
    nextCents: fc.integer({ min: -5, max: 300 }),
  }),
);

/** "METHOD /path" of every route in Fastify's printRoutes tree (one node per line, 4 columns a level). */
function servedRoutes(printed: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of printed.split('\n')) {
    const node = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!node) continue;
    const depth = (node[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(node[2] ?? '');
    const path = stack.join('');
    for (const method of node[3]?.split(', ') ?? []) routes.push(`${method} ${path}`);
  }
  return routes;
}

/** A request as a well-behaved client sends it: a bid (or any route) that should succeed. */
const wellFormedArb = routeArb.chain((spec) =>
  fc.record({
    spec: fc.constant(spec),
    id: fc.constant(spec.path.startsWith('/api/v1/rooms/') ? ROOM : ITEM),
    member: fc.constant('bob'),
    query: fc.constant(spec.query ?? {}),
    body: fc.constant(spec.body),
    rawBody: fc.constant(undefined),
    contentType: fc.constant('application/json'),
    auth: fc.constant<Auth>('self'),
    idempotencyKey: fc.option(fc.uuid(), { nil: undefined }),
    nextCents: fc.integer({ min: 1, max: 300 }),
  }),
);

/** Mostly fuzzed requests; now and then a well-formed one, so that bids are also accepted. */
const anyRequestArb = fc.oneof({ weight: 4, arbitrary: requestArb }, { weight: 1, arbitrary: wellFormedArb });

type FuzzRequest = typeof requestArb extends fc.Arbitrary<infer R> ? R : never;

describe('HTTP routes under property-based fuzzing', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let db: TestDatabase;
  let api: TestApi;
  const tokens = new Map<Auth, string | undefined>();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    db = await createTestDatabase();
    await migrate(db.url);
    api = await startApi(names, {
      AUTH_MODE: 'jwt',
      AUTH_SECRET: SECRET,
      DEV_TOKENS: 'true',
      DATABASE_URL: db.url,
      DEV_TOKEN_RATE_LIMIT_PER_MIN: '1000000',
      BODY_LIMIT_BYTES: '8192',
    });
    const key = new TextEncoder().encode(SECRET);
    tokens.set('self', await signToken(SECRET, USER));
    tokens.set('other', await signToken(SECRET, 'someone_else'));
    tokens.set('none', undefined);
    tokens.set('garbage', 'not.a.token');
    tokens.set('wrong-secret', await signToken('another-secret-0123456789abcdef', USER));
    tokens.set(
      'expired',
      await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(USER)
        .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
        .sign(key),
    );
    const [header, payload] = (tokens.get('self') ?? '').split('.');
    const noneHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    tokens.set('alg-none', `${noneHeader}.${payload ?? header}.`);
    const created = await api.api.app.inject({
      method: 'POST',
      url: '/api/v1/items',
      headers: { authorization: `Bearer ${tokens.get('self')}` },
      payload: { id: ITEM, title: 'Fuzzed', startingPrice: '1.00', minIncrement: '0.01', endsAt: future() },
    });
    expect(created.statusCode).toBe(201);
    const room = await api.api.app.inject({
      method: 'POST',
      url: '/api/v1/rooms',
      headers: { authorization: `Bearer ${tokens.get('self')}` },
      payload: { id: ROOM, private: true },
    });
    expect(room.statusCode).toBe(201);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await api?.close();
    await cleanupNames(names, probe);
    await db?.drop();
  });

  it('declares every route the app serves', () => {
    for (const spec of ROUTES)
      expect(api.api.app.hasRoute({ method: spec.method, url: spec.path }), spec.path).toBe(true);
    // Routes the app has that the fuzzer would not reach: fail, so that a new route gets fuzzed.
    const printed = api.api.app.printRoutes({ commonPrefix: false });
    const served = servedRoutes(printed).filter((r) => !/^(HEAD|OPTIONS) /.test(r));
    const declared = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    const undeclared = served.filter((r) => !declared.has(r) && !r.includes('*'));
    expect(undeclared).toEqual([]);
  });

  /** The fuzzed item's state, read through the api. */
  const itemState = async () => {
    const res = await api.api.app.inject({ method: 'GET', url: `/api/v1/items/${ITEM}` });
    const body = res.json() as { bidCount: number; highestBid: { amountCents: number; seq: number } | null };
    return {
      count: body.bidCount,
      highest: body.highestBid?.amountCents ?? 0,
      seq: body.highestBid?.seq ?? 0,
    };
  };

  const materialize = (value: unknown, highest: number, nextCents: number): unknown => {
    // Just above (or below) the highest bid, or the starting price (1.00) for the first.
    if (value === 'next') return (((highest || 99) + nextCents) / 100).toFixed(2);
    if (value === 'future') return future();
    if (value === 'now') return new Date().toISOString();
    return value;
  };

  const send = async (r: FuzzRequest) => {
    const before = await itemState();
    const path = r.spec.path
      .replace(':id', encodeURIComponent(r.id))
      .replace(':userId', encodeURIComponent(r.member));
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(r.query))
      if (v !== undefined) search.append(k, String(materialize(v, 0, 0)));
    const qs = search.toString();
    let body = r.body;
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      body = Object.fromEntries(
        Object.entries(body as Record<string, unknown>).map(([k, v]) => [
          k,
          materialize(v, before.highest, r.nextCents),
        ]),
      );
    }
    const headers: Record<string, string> = {};
    const token = tokens.get(r.auth);
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey;
    let payload: string | undefined;
    if (r.spec.method === 'POST') {
      payload = r.rawBody ?? JSON.stringify(body ?? null);
      if (r.contentType) headers['content-type'] = r.contentType;
    }
    const snapshot = await probe.snapshot();
    const res = await api.api.app.inject({
      method: r.spec.method,
      url: qs ? `${path}?${qs}` : path,
      headers,
      ...(payload === undefined ? {} : { payload }),
    });
    return { res, before, snapshot, path };
  };

  it('answers anything without a 5xx, refuses without changing state, keeps bids gapless', async () => {
    let accepted = 0;
    let refused = 0;
    let runs = 0;
    let roomChanges = 0;
    await fc.assert(
      fc.asyncProperty(anyRequestArb, async (r) => {
        runs++;
        const { res, before, snapshot, path } = await send(r);
        const what = `${r.spec.method} ${path} → ${res.statusCode} ${res.body.slice(0, 300)}`;
        expect(res.statusCode, what).toBeLessThan(500);
        const after = await itemState();
        // Gapless and monotonic, whatever was sent.
        expect(after.count, what).toBeGreaterThanOrEqual(before.count);
        expect(after.seq, what).toBe(after.count);
        expect(after.highest, what).toBeGreaterThanOrEqual(before.highest);
        if (res.statusCode >= 400) {
          refused++;
          const body = res.json() as { error?: unknown; message?: unknown };
          expect(typeof body.error, what).toBe('string');
          expect(typeof body.message, what).toBe('string');
        }
        const changed = JSON.stringify(await probe.snapshot()) !== JSON.stringify(snapshot);
        // Idempotency answers are kept for refusals too (a retry gets the same refusal).
        const stateOnly = async () => {
          const now = await probe.snapshot();
          const strip = (s: Record<string, unknown>) =>
            JSON.stringify(Object.fromEntries(Object.entries(s).filter(([k]) => !k.includes(':idem:'))));
          return strip(now) === strip(snapshot);
        };
        if (res.statusCode >= 400 || !r.spec.writes) {
          if (changed) expect(await stateOnly(), `${what}: Redis changed`).toBe(true);
        }
        if (r.spec.path.startsWith('/api/v1/rooms') && r.spec.writes && res.statusCode < 300) roomChanges++;
        if (r.spec.path.endsWith('/bid') && res.statusCode === 201) {
          accepted++;
          const bid = res.json() as { seq: number; amountCents: number; itemId: string };
          if (bid.itemId === ITEM && res.headers['idempotent-replayed'] !== 'true') {
            expect(bid.seq, what).toBe(before.count + 1);
            expect(bid.amountCents, what).toBeGreaterThan(before.highest);
          }
        }
        if (r.spec.path.endsWith('/bid') && res.statusCode >= 400) {
          expect(after.count, `${what}: a refused bid was counted`).toBe(before.count);
        }
      }),
      {
        numRuns: 400,
        // A loaded machine runs fewer requests in the time, rather than failing on time.
        interruptAfterTimeLimit: 90_000,
        endOnFailure: true,
        ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
      },
    );
    console.log(
      `fuzzed the HTTP routes: ${runs} requests, ${accepted} bids accepted, ${roomChanges} room changes, ${refused} refused`,
    );
    // The fuzzer reached both sides of the routes.
    expect(runs).toBeGreaterThanOrEqual(60);
    expect(refused).toBeGreaterThan(runs / 10);
    expect(accepted).toBeGreaterThan(0);
    // Every accepted bid of the item is in the outbox in seq order, once.
    const seqs = (await probe.outbox())
      .filter((e) => e.type === 'bid.accepted' && e.itemId === ITEM)
      .map((e) => (e.type === 'bid.accepted' ? e.seq : 0));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs.length).toBe((await itemState()).count);
    // The private room kept a member (the last one cannot leave), and every change to it was
    // announced: its membership is what its events say.
    const room = await api.api.app.inject({
      method: 'GET',
      url: `/api/v1/rooms/${ROOM}`,
      headers: { authorization: `Bearer ${tokens.get('self')}` },
    });
    const members = new Set<string>();
    for (const e of await probe.outbox()) {
      if (e.type === 'room.created' && e.roomId === ROOM) e.members.forEach((m) => members.add(m));
      if (e.type === 'room.member_added' && e.roomId === ROOM) members.add(e.userId);
      if (e.type === 'room.member_removed' && e.roomId === ROOM) members.delete(e.userId);
    }
    if (room.statusCode === 200) {
      const listed = (room.json() as { members: string[] }).members;
      expect(listed.length).toBeGreaterThan(0);
      expect(listed).toEqual([...members].sort());
    } else {
      // The fuzzer removed itself: someone else is left.
      expect(room.statusCode).toBe(404);
      expect(members.size).toBeGreaterThan(0);
      expect(members.has(USER)).toBe(false);
    }
    expect(unhandled).toEqual([]);
  }, 300_000);
});

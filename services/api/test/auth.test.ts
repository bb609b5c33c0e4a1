import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { signToken, verifyToken } from '@gavel/shared';
import {
  RedisProbe,
  TEST_SECRET,
  bid,
  cleanupNames,
  createItem,
  http,
  startApi,
  testNames,
  type TestApi,
} from './helpers.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('AUTH_MODE=jwt', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let api: TestApi;
  let noDevTokens: TestApi;
  let item: string;
  let aliceToken: string;

  beforeAll(async () => {
    const env = { AUTH_MODE: 'jwt', AUTH_SECRET: TEST_SECRET, DEV_TOKEN_RATE_LIMIT_PER_MIN: '5' };
    api = await startApi(names, { ...env, DEV_TOKENS: 'true' });
    noDevTokens = await startApi(names, { ...env, DEV_TOKENS: 'false' });
    aliceToken = await signToken(TEST_SECRET, 'alice');
    item = await createItem(api.url, {}, { authorization: `Bearer ${aliceToken}` });
  });
  afterAll(async () => {
    await api?.close();
    await noDevTokens?.close();
    await cleanupNames(names, probe);
  });

  it('takes the bidder from the token subject', async () => {
    const res = await http(
      api.url,
      'POST',
      `/api/v1/items/${item}/bid`,
      { amount: 10 },
      {
        authorization: `Bearer ${aliceToken}`,
      },
    );
    expect(res.status).toBe(201);
    expect(res.body.userId).toBe('alice');
  });

  it('refuses a body that names another user with 403, and changes nothing', async () => {
    const before = await probe.snapshot();
    const res = await bid(api.url, item, 'mallory', 500, { authorization: `Bearer ${aliceToken}` });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('user_mismatch');
    expect(await probe.snapshot()).toEqual(before);
  });

  it('answers 401 to missing, forged, expired and alg:none tokens', async () => {
    const forged = await signToken('another-secret-0123456789', 'alice');
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer('gavel')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(TEST_SECRET));
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', iss: 'gavel', exp: 9999999999 })}.`;
    const before = await probe.snapshot();
    for (const authorization of [
      undefined,
      'Bearer',
      `Basic ${aliceToken}`,
      `Bearer ${forged}`,
      `Bearer ${expired}`,
      `Bearer ${none}`,
    ]) {
      const headers: Record<string, string> = authorization ? { authorization } : {};
      const res = await http(api.url, 'POST', `/api/v1/items/${item}/bid`, { amount: 99 }, headers);
      expect(res.status, String(authorization)).toBe(401);
      expect(res.body.error).toBe('unauthorized');
      const create = await http(
        api.url,
        'POST',
        '/api/v1/items',
        { title: 'x', startingPrice: 1, minIncrement: 1, endsAt: Date.now() + 60_000 },
        headers,
      );
      expect(create.status).toBe(401);
    }
    expect(await probe.snapshot()).toEqual(before);
  });

  it('issues dev tokens when DEV_TOKENS=true, limited per IP', async () => {
    const res = await http(api.url, 'POST', '/api/v1/dev/token', { userId: 'dev_user' });
    expect(res.status).toBe(200);
    expect(await verifyToken(TEST_SECRET, res.body.token)).toMatchObject({ ok: true, userId: 'dev_user' });
    // DEV_TOKEN_TTL_S (12 hours unless set) is the token's lifetime.
    const claims = JSON.parse(Buffer.from(String(res.body.token).split('.')[1]!, 'base64url').toString()) as {
      iat: number;
      exp: number;
    };
    expect(claims.exp - claims.iat).toBe(43_200);
    expect((await http(api.url, 'POST', '/api/v1/dev/token', { userId: 'bad user!' })).status).toBe(400);
    const more = await Promise.all(
      Array.from({ length: 6 }, () => http(api.url, 'POST', '/api/v1/dev/token', { userId: 'u' })),
    );
    const limited = more.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('has no dev token route when DEV_TOKENS=false', async () => {
    const res = await http(noDevTokens.url, 'POST', '/api/v1/dev/token', { userId: 'dev_user' });
    expect(res.status).toBe(404);
  });
});

describe('AUTH_MODE=open', () => {
  const names = testNames();
  const probe = new RedisProbe(names.prefix);
  let api: TestApi;
  let noSecret: TestApi;

  beforeAll(async () => {
    api = await startApi(names, { AUTH_MODE: 'open', AUTH_SECRET: TEST_SECRET });
    noSecret = await startApi(names, { AUTH_MODE: 'open' });
  });
  afterAll(async () => {
    await api?.close();
    await noSecret?.close();
    await cleanupNames(names, probe);
  });

  it('verifies an Authorization header when one is sent: bad 401, another subject 403', async () => {
    const item = await createItem(api.url);
    const alice = `Bearer ${await signToken(TEST_SECRET, 'alice')}`;
    const forged = `Bearer ${await signToken('another-secret-0123456789', 'alice')}`;
    const before = await probe.snapshot();
    for (const authorization of ['Bearer garbage', forged, 'Basic abc', 'Bearer']) {
      const res = await bid(api.url, item, 'alice', 10, { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.body.error).toBe('unauthorized');
      const create = await http(
        api.url,
        'POST',
        '/api/v1/items',
        { title: 'x', startingPrice: 1, minIncrement: 1, endsAt: Date.now() + 60_000 },
        { authorization },
      );
      expect(create.status, authorization).toBe(401);
    }
    // alice's token bidding as bob: refused, not ignored.
    const asBob = await bid(api.url, item, 'bob', 10, { authorization: alice });
    expect(asBob.status).toBe(403);
    expect(asBob.body.error).toBe('user_mismatch');
    // Without a secret nothing can be verified, so a token is refused rather than ignored.
    expect((await bid(noSecret.url, item, 'alice', 10, { authorization: alice })).status).toBe(401);
    expect(await probe.snapshot()).toEqual(before);

    // The token's own subject bids, named in the body or not.
    const named = await bid(api.url, item, 'alice', 10, { authorization: alice });
    expect(named.status).toBe(201);
    expect(named.body.userId).toBe('alice');
    const unnamed = await http(
      api.url,
      'POST',
      `/api/v1/items/${item}/bid`,
      { amount: 11 },
      { authorization: alice },
    );
    expect(unnamed.status).toBe(201);
    expect(unnamed.body.userId).toBe('alice');
  });

  it('takes user_id or userId from the body (seed 004) and needs one of them', async () => {
    const item = await createItem(api.url);
    expect(
      (await http(api.url, 'POST', `/api/v1/items/${item}/bid`, { user_id: 'u1', amount: 10 })).body.userId,
    ).toBe('u1');
    expect(
      (await http(api.url, 'POST', `/api/v1/items/${item}/bid`, { userId: 'u2', amount: 11 })).body.userId,
    ).toBe('u2');
    const before = await probe.snapshot();
    expect((await http(api.url, 'POST', `/api/v1/items/${item}/bid`, { amount: 12 })).status).toBe(400);
    const differ = await http(api.url, 'POST', `/api/v1/items/${item}/bid`, {
      user_id: 'a',
      userId: 'b',
      amount: 12,
    });
    expect(differ.status).toBe(400);
    expect(await probe.snapshot()).toEqual(before);
  });
});

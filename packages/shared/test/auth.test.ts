import { describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import { bearerToken, createTokenVerifier, signToken, verifyToken } from '../src/auth.js';
import { waitFor } from '../src/testing.js';

const secret = 'a-test-secret-of-enough-length';

describe('tokens', () => {
  it('accepts its own tokens and yields the subject', async () => {
    const before = Date.now();
    const token = await signToken(secret, 'alice', { expiresInSeconds: 600 });
    const result = await verifyToken(secret, token);
    expect(result).toMatchObject({ ok: true, userId: 'alice' });
    // And when it expires (exp has whole seconds): a live connection is closed then.
    const expiresAtMs = result.ok ? result.expiresAtMs : 0;
    expect(expiresAtMs).toBeGreaterThan(before + 598_000);
    expect(expiresAtMs).toBeLessThanOrEqual(Date.now() + 601_000);
    // The cached answer says the same.
    expect(await verifyToken(secret, token)).toEqual(result);
  });

  it('refuses forged, expired, unsigned and foreign-algorithm tokens', async () => {
    const forged = await signToken('another-secret-entirely', 'alice');
    expect((await verifyToken(secret, forged)).ok).toBe(false);

    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer('gavel')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(secret));
    expect(await verifyToken(secret, expired)).toEqual({ ok: false, reason: 'token expired' });

    const none = new UnsecuredJWT({}).setSubject('alice').setIssuer('gavel').setExpirationTime('1h').encode();
    expect((await verifyToken(secret, none)).ok).toBe(false);

    const hs512 = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject('alice')
      .setIssuer('gavel')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
    expect((await verifyToken(secret, hs512)).ok).toBe(false);

    for (const junk of [undefined, '', 'abc', 42, 'a.b.c'])
      expect((await verifyToken(secret, junk)).ok).toBe(false);
  });

  it('remembers a verified token only until it expires', async () => {
    const verify = createTokenVerifier(secret);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer('gavel')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(new TextEncoder().encode(secret));
    expect(await verify(token)).toMatchObject({ ok: true, userId: 'alice' });
    expect(await verify(token)).toMatchObject({ ok: true, userId: 'alice' });
    const refused = await waitFor(
      async () => {
        const result = await verify(token);
        return result.ok ? null : result;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the cached token to expire' },
    );
    expect(refused).toEqual({ ok: false, reason: 'token expired' });
  });

  it('keeps what one secret verified away from another secret', async () => {
    const token = await signToken(secret, 'alice');
    expect((await verifyToken(secret, token)).ok).toBe(true);
    expect(await verifyToken('a-different-secret-of-length', token)).toEqual({
      ok: false,
      reason: 'invalid token',
    });
    // A token altered after it was verified is a different string: verified afresh, refused.
    const [head, body, signature] = token.split('.') as [string, string, string];
    const tampered = `${head}.${body}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await verifyToken(secret, tampered)).ok).toBe(false);
  });

  it('reads bearer headers', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { SignJWT, UnsecuredJWT } from 'jose';
import { bearerToken, signToken, verifyToken } from '../src/auth.js';

const secret = 'a-test-secret-of-enough-length';

describe('tokens', () => {
  it('accepts its own tokens and yields the subject', async () => {
    const token = await signToken(secret, 'alice');
    expect(await verifyToken(secret, token)).toEqual({ ok: true, userId: 'alice' });
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

  it('reads bearer headers', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

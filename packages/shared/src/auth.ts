import { webcrypto } from 'node:crypto';
import { SignJWT, jwtVerify, errors } from 'jose';
import { LRUCache } from 'lru-cache';
import { isId } from './ids.js';

/**
 * HS256 tokens whose subject is the user id. Verification pins the algorithm, so `alg: none`
 * and any other algorithm are refused.
 */

const ALGORITHM = 'HS256';
const ISSUER = 'gavel';
const MAX_TOKEN_LENGTH = 4096;

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

export async function signToken(
  secret: string,
  userId: string,
  options: { expiresInSeconds?: number } = {},
): Promise<string> {
  if (!isId(userId)) throw new Error('userId must be a valid id');
  return new SignJWT({})
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime(`${options.expiresInSeconds ?? 12 * 3600}s`)
    .sign(key(secret));
}

/** A verified token: its subject, and when it expires (epoch ms; a live connection ends then). */
export type VerifyResult = { ok: true; userId: string; expiresAtMs: number } | { ok: false; reason: string };

export interface TokenVerifierOptions {
  /** Verified tokens remembered (each until its `exp`). 0 turns the cache off. @default 10000 */
  readonly cacheSize?: number;
}

/**
 * A verifier for one secret. The HMAC key is imported once (importing it is most of a
 * verification's cost), and a token that verified is remembered by its exact text until its
 * `exp`, so a client that sends the same token with every request pays for one verification.
 * Refusals are not remembered: they cost the attacker as much as us.
 */
export function createTokenVerifier(
  secret: string,
  options: TokenVerifierOptions = {},
): (token: unknown) => Promise<VerifyResult> {
  let cryptoKey: Promise<webcrypto.CryptoKey> | null = null;
  const importKey = () =>
    (cryptoKey ??= webcrypto.subtle.importKey('raw', key(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'verify',
    ]));
  const size = options.cacheSize ?? 10_000;
  const verified =
    size > 0
      ? new LRUCache<string, { userId: string; expiresAtMs: number }>({ max: size, ttlAutopurge: false })
      : null;

  return async function verify(token: unknown): Promise<VerifyResult> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      return { ok: false, reason: 'missing token' };
    }
    const known = verified?.get(token);
    if (known !== undefined) return { ok: true, ...known };
    try {
      const { payload } = await jwtVerify(token, await importKey(), {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        requiredClaims: ['sub', 'exp'],
      });
      if (!isId(payload.sub)) return { ok: false, reason: 'token subject is not a valid user id' };
      // exp is required and was checked to be ahead of now; the entry goes stale exactly then.
      const expiresAtMs = (payload.exp ?? 0) * 1000;
      const ttl = expiresAtMs - Date.now();
      if (verified && ttl > 0) verified.set(token, { userId: payload.sub, expiresAtMs }, { ttl });
      return { ok: true, userId: payload.sub, expiresAtMs };
    } catch (err) {
      if (err instanceof errors.JWTExpired) return { ok: false, reason: 'token expired' };
      return { ok: false, reason: 'invalid token' };
    }
  };
}

/** One verifier per secret for verifyToken; a process has one secret, tests a few. */
const verifiers = new LRUCache<string, (token: unknown) => Promise<VerifyResult>>({ max: 16 });

/** Verifies a token against `secret` (through that secret's cached verifier). */
export async function verifyToken(secret: string, token: unknown): Promise<VerifyResult> {
  let verifier = verifiers.get(secret);
  if (!verifier) {
    verifier = createTokenVerifier(secret);
    verifiers.set(secret, verifier);
  }
  return verifier(token);
}

/** Reads `Authorization: Bearer <token>`. */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1];
}

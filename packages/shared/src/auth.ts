import { SignJWT, jwtVerify, errors } from 'jose';
import { isId } from './ids.js';

/**
 * HS256 tokens whose subject is the user id. Verification pins the algorithm, so `alg: none`
 * and any other algorithm are refused.
 */

const ALGORITHM = 'HS256';
const ISSUER = 'gavel';

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

export type VerifyResult = { ok: true; userId: string } | { ok: false; reason: string };

export async function verifyToken(secret: string, token: unknown): Promise<VerifyResult> {
  if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
    return { ok: false, reason: 'missing token' };
  }
  try {
    const { payload } = await jwtVerify(token, key(secret), {
      algorithms: [ALGORITHM],
      issuer: ISSUER,
      requiredClaims: ['sub', 'exp'],
    });
    if (!isId(payload.sub)) return { ok: false, reason: 'token subject is not a valid user id' };
    return { ok: true, userId: payload.sub };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: 'token expired' };
    return { ok: false, reason: 'invalid token' };
  }
}

/** Reads `Authorization: Bearer <token>`. */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1];
}

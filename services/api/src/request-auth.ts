import type { FastifyRequest } from 'fastify';
import { bearerToken, createTokenVerifier } from '@gavel/shared';

export type Caller = { ok: true; userId: string | null } | { ok: false; reason: string };

/**
 * Who is calling. jwt mode: the bearer token's subject, or a reason for 401. open mode (seed
 * 004's load tests): nobody in particular, and the bid body names the bidder; but a request
 * that does send `Authorization` is held to it, as in jwt mode (a bad token is refused, and
 * the subject is the caller), so that a token is never silently ignored.
 */
export function createAuthenticator(config: { AUTH_MODE: 'jwt' | 'open'; AUTH_SECRET?: string | undefined }) {
  const verify = config.AUTH_SECRET ? createTokenVerifier(config.AUTH_SECRET) : null;
  return async function authenticate(request: FastifyRequest): Promise<Caller> {
    const header = request.headers.authorization;
    if (config.AUTH_MODE === 'open' && header === undefined) return { ok: true, userId: null };
    const token = bearerToken(header);
    if (!token) return { ok: false, reason: 'missing bearer token (Authorization: Bearer <token>)' };
    if (!verify) return { ok: false, reason: 'tokens cannot be verified here: AUTH_SECRET is not set' };
    const result = await verify(token);
    return result.ok ? { ok: true, userId: result.userId } : { ok: false, reason: result.reason };
  };
}

export type Authenticator = ReturnType<typeof createAuthenticator>;

/**
 * A caller who must be someone: in open mode a request without a token is nobody in particular,
 * which routes that act for a user (DMs, rooms) refuse with 401 as they would a bad token.
 */
export function someone(
  caller: Caller,
  what: string,
): { ok: true; userId: string } | { ok: false; reason: string } {
  if (!caller.ok) return caller;
  if (caller.userId === null)
    return { ok: false, reason: `${what} need to know who is asking: send a bearer token (AUTH_MODE=jwt)` };
  return { ok: true, userId: caller.userId };
}

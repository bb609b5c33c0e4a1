import type { FastifyRequest } from 'fastify';
import { bearerToken, verifyToken } from '@gavel/shared';

export type Caller = { ok: true; userId: string | null } | { ok: false; reason: string };

/**
 * Who is calling. jwt mode: the bearer token's subject, or a reason for 401. open mode (seed
 * 004's load tests): nobody in particular; the bid body names the bidder.
 */
export function createAuthenticator(config: { AUTH_MODE: 'jwt' | 'open'; AUTH_SECRET?: string | undefined }) {
  return async function authenticate(request: FastifyRequest): Promise<Caller> {
    if (config.AUTH_MODE === 'open') return { ok: true, userId: null };
    const token = bearerToken(request.headers.authorization);
    if (!token) return { ok: false, reason: 'missing bearer token (Authorization: Bearer <token>)' };
    const result = await verifyToken(config.AUTH_SECRET ?? '', token);
    return result.ok ? { ok: true, userId: result.userId } : { ok: false, reason: result.reason };
  };
}

export type Authenticator = ReturnType<typeof createAuthenticator>;

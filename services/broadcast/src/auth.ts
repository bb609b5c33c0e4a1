import { isId, verifyToken } from '@gavel/shared';
import type { BroadcastConfig } from './config.js';

export type AuthResult = { ok: true; userId: string } | { ok: false; reason: string };

/**
 * Who is connecting. jwt mode: the token's subject. open mode (local experiments): the claimed
 * userId, or a token if one is given and a secret is configured.
 */
export function createAuthenticator(config: Pick<BroadcastConfig, 'AUTH_MODE' | 'AUTH_SECRET'>) {
  return async (credentials: { token?: unknown; userId?: unknown }): Promise<AuthResult> => {
    if (config.AUTH_MODE === 'open') {
      if (isId(credentials.userId)) return { ok: true, userId: credentials.userId };
      if (credentials.token !== undefined && config.AUTH_SECRET) {
        return verifyToken(config.AUTH_SECRET, credentials.token);
      }
      return { ok: false, reason: 'missing userId' };
    }
    return verifyToken(config.AUTH_SECRET ?? '', credentials.token);
  };
}

export type Authenticator = ReturnType<typeof createAuthenticator>;

/** Non-browser clients send no Origin and pass; browsers must come from an allowed one. */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  if (allowed.length === 0 || origin === undefined) return true;
  return allowed.includes(origin);
}

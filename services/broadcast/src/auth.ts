import { isId, verifyToken } from '@gavel/shared';
import type { BroadcastConfig } from './config.js';

/**
 * Who is connecting, and until when: a token's connection ends at the token's `exp` unless the
 * client sends a fresh one (`expiresAtMs` undefined: open mode without a token, no end).
 */
export type AuthResult =
  { ok: true; userId: string; expiresAtMs: number | undefined } | { ok: false; reason: string };

/**
 * jwt mode: the token's subject. open mode (local experiments): the claimed userId, or a token
 * if one is given and a secret is configured.
 */
export function createAuthenticator(config: Pick<BroadcastConfig, 'AUTH_MODE' | 'AUTH_SECRET'>) {
  return async (credentials: { token?: unknown; userId?: unknown }): Promise<AuthResult> => {
    if (config.AUTH_MODE === 'open') {
      if (isId(credentials.userId)) return { ok: true, userId: credentials.userId, expiresAtMs: undefined };
      if (credentials.token !== undefined && config.AUTH_SECRET) {
        return verifyToken(config.AUTH_SECRET, credentials.token);
      }
      return { ok: false, reason: 'missing userId' };
    }
    return verifyToken(config.AUTH_SECRET ?? '', credentials.token);
  };
}

export type Authenticator = ReturnType<typeof createAuthenticator>;

/** Checks a fresh token sent on a live connection (`auth:refresh`): tokens only, in either mode. */
export function createTokenRefresher(config: Pick<BroadcastConfig, 'AUTH_SECRET'>) {
  return async (token: string): Promise<AuthResult> => {
    if (!config.AUTH_SECRET) return { ok: false, reason: 'tokens cannot be verified here (no AUTH_SECRET)' };
    return verifyToken(config.AUTH_SECRET, token);
  };
}

export type TokenRefresher = ReturnType<typeof createTokenRefresher>;

/** Non-browser clients send no Origin and pass; browsers must come from an allowed one. */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  if (allowed.length === 0 || origin === undefined) return true;
  return allowed.includes(origin);
}

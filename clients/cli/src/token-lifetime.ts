/**
 * What the CLI reads from a token: who it was issued to and when it ends. Read without
 * verifying: the servers verify; the CLI only needs the names and times.
 */

export interface TokenClaims {
  readonly sub?: string;
  /** Epoch seconds. */
  readonly exp?: number;
  /** Epoch seconds. */
  readonly iat?: number;
}

/** At most this long before the end: a long token is renewed (or warned about) minutes ahead. */
const MAX_LEAD_MS = 5 * 60_000;

export function tokenClaims(token: string): TokenClaims {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as unknown;
    if (!claims || typeof claims !== 'object') return {};
    const { sub, exp, iat } = claims as Record<string, unknown>;
    return {
      ...(typeof sub === 'string' ? { sub } : {}),
      ...(typeof exp === 'number' ? { exp } : {}),
      ...(typeof iat === 'number' ? { iat } : {}),
    };
  } catch {
    return {};
  }
}

/** When the token ends (epoch ms), or undefined without a readable `exp`. */
export function tokenExpiry(token: string): number | undefined {
  const { exp } = tokenClaims(token);
  return exp === undefined ? undefined : exp * 1000;
}

/**
 * When to act (renew, or warn): a third of the token's life before its end, so that a short test
 * token leaves room to spare, but no earlier than MAX_LEAD_MS before it.
 */
export function renewalTime(token: string, nowMs = Date.now()): number | undefined {
  const endMs = tokenExpiry(token);
  if (endMs === undefined) return undefined;
  const { iat } = tokenClaims(token);
  const startMs = iat === undefined ? nowMs : iat * 1000;
  return endMs - Math.min(MAX_LEAD_MS, Math.max(0, endMs - startMs) / 3);
}

/** "2m 05s", "45s", "1h 10m": how long until `atMs`. */
export function durationText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

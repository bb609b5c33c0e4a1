import type { AckError } from '@gavel/shared';
import type { Logger } from 'pino';
import type { TokenRefresher } from './auth.js';
import type { Connection } from './connection.js';
import type { BroadcastMetrics } from './metrics.js';

/** setTimeout's longest delay; a later end is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type RefreshAnswer = { ok: true; userId: string; expiresAt: string } | AckError;

const fail = (code: AckError['code'], message: string): AckError => ({
  ok: false,
  error: code,
  code,
  message,
});

/**
 * A connection lives no longer than its token: at the token's `exp` the connection is told and
 * closed (Connection.expire), unless the client sent a fresh token for the same user before.
 */
export class SessionLifetimes {
  private readonly ends = new Map<Connection, { atMs: number; timer: NodeJS.Timeout }>();

  constructor(
    private readonly deps: {
      readonly refresh: TokenRefresher;
      readonly metrics: BroadcastMetrics;
      readonly logger: Logger;
    },
  ) {}

  /** Arms the end of a new connection (none for a connection without a token). */
  start(conn: Connection, expiresAtMs: number | undefined): void {
    if (expiresAtMs !== undefined) this.arm(conn, expiresAtMs);
  }

  private arm(conn: Connection, atMs: number): void {
    clearTimeout(this.ends.get(conn)?.timer);
    const timer = setTimeout(
      () => {
        if (Date.now() < atMs) return this.arm(conn, atMs);
        this.ends.delete(conn);
        this.deps.metrics.drops.inc({ reason: 'token_expired' });
        this.deps.logger.debug({ userId: conn.userId }, 'token expired: connection closed');
        conn.expire();
      },
      Math.min(Math.max(0, atMs - Date.now()), MAX_TIMER_MS),
    );
    timer.unref();
    this.ends.set(conn, { atMs, timer });
  }

  /** `auth:refresh`: a valid token for the same user moves the end to its `exp`. */
  async refresh(conn: Connection, token: string): Promise<RefreshAnswer> {
    const result = await this.deps.refresh(token);
    if (!result.ok) return fail('unauthorized', `the new token was refused: ${result.reason}`);
    if (result.userId !== conn.userId) {
      return fail('forbidden', 'the new token is for another user: sign in again as that user instead');
    }
    if (result.expiresAtMs !== undefined) this.arm(conn, result.expiresAtMs);
    const atMs = result.expiresAtMs ?? this.ends.get(conn)?.atMs;
    return {
      ok: true,
      userId: result.userId,
      expiresAt: new Date(atMs ?? Date.now()).toISOString(),
    };
  }

  /** The connection ended. */
  end(conn: Connection): void {
    clearTimeout(this.ends.get(conn)?.timer);
    this.ends.delete(conn);
  }

  get size(): number {
    return this.ends.size;
  }
}

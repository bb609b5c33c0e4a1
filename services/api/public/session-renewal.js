/* global atob */
/**
 * A sign-in lives as long as its token: broadcast closes the live connection at the token's
 * `exp` and the api refuses it from then on. This renews the token before that, on its own, and
 * says when the session ends anyway (the renewal kept failing, or the computer slept through it).
 */

/** At most this long before the end: a long token is renewed a few minutes ahead. */
const MAX_LEAD_MS = 5 * 60_000;
/** Waits between failed renewals: 1 s, 2 s, 4 s … up to 30 s, while the token still lasts. */
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30_000;

/**
 * A JWT's claims, read without verifying (the servers verify; the page only needs the times).
 * @param {string | undefined} token
 * @returns {{ exp?: number, iat?: number, sub?: string }}
 */
export function tokenClaims(token) {
  try {
    const part = String(token).split('.')[1] ?? '';
    const base64 = part.replaceAll('-', '+').replaceAll('_', '/');
    const claims = JSON.parse(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')));
    return claims && typeof claims === 'object' ? claims : {};
  } catch {
    return {};
  }
}

/** When the token ends (epoch ms), or undefined for one without a readable `exp`. */
export function tokenExpiry(token) {
  const { exp } = tokenClaims(token);
  return typeof exp === 'number' ? exp * 1000 : undefined;
}

/**
 * When to renew: a third of the token's life before its end (so a short test token is renewed
 * with room to spare), but no earlier than MAX_LEAD_MS before it.
 */
export function renewalTime(token, nowMs = Date.now()) {
  const endMs = tokenExpiry(token);
  if (endMs === undefined) return undefined;
  const { iat } = tokenClaims(token);
  const startMs = typeof iat === 'number' ? iat * 1000 : nowMs;
  const lead = Math.min(MAX_LEAD_MS, Math.max(0, endMs - startMs) / 3);
  return endMs - lead;
}

export class SessionRenewal {
  /**
   * @param {{ renew: () => Promise<string>, onExpired: () => void, onTrouble: (message: string) => void }} deps
   *   `renew` gets a fresh token and puts it to use (the live connection, later HTTP calls) and
   *   returns it; `onExpired` signs out; `onTrouble` says that a renewal failed and is retried.
   */
  constructor(deps) {
    this.deps = deps;
    this.renewTimer = undefined;
    this.endTimer = undefined;
  }

  /** Watches `token`: renews it in time, and signs out at its end if no fresh one came. */
  start(token) {
    this.stop();
    const endMs = tokenExpiry(token);
    if (endMs === undefined) return;
    if (endMs <= Date.now()) {
      this.deps.onExpired();
      return;
    }
    // The page's own end of the session: without it, a page whose live connection is down
    // would learn of the expiry only from its next refused request.
    this.endTimer = setTimeout(() => this.deps.onExpired(), endMs - Date.now());
    this.schedule(Math.max(0, (renewalTime(token) ?? endMs) - Date.now()), endMs, 0);
  }

  stop() {
    clearTimeout(this.renewTimer);
    clearTimeout(this.endTimer);
    this.renewTimer = undefined;
    this.endTimer = undefined;
  }

  schedule(delayMs, endMs, failures) {
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => void this.attempt(endMs, failures), delayMs);
  }

  async attempt(endMs, failures) {
    let fresh;
    try {
      fresh = await this.deps.renew();
    } catch (err) {
      // Stopped meanwhile (signed out): nothing to retry.
      if (this.endTimer === undefined) return;
      const wait = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** failures);
      const reason = err instanceof Error ? err.message : String(err);
      // Past the end the end timer signs out; until then every try is worth it.
      if (Date.now() + wait < endMs) {
        this.deps.onTrouble(`Could not renew your sign-in (${reason}). Trying again…`);
        this.schedule(wait, endMs, failures + 1);
      } else {
        this.deps.onTrouble(`Could not renew your sign-in (${reason}).`);
      }
      return;
    }
    if (this.endTimer !== undefined) this.start(fresh);
  }
}

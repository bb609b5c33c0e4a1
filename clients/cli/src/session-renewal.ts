import { localTime } from './output-format.js';
import { durationText, renewalTime, tokenExpiry } from './token-lifetime.js';

/** Waits between failed renewals: 1 s, 2 s, 4 s … up to 30 s, while the token still lasts. */
const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30_000;

export interface SessionRenewalOptions {
  /** The token the session started with. */
  readonly token: string;
  /**
   * Gets a fresh token for the same user (a dev token, as at sign-in). None for a token given
   * with --token: the CLI cannot make another, so it warns before the end instead.
   */
  readonly mint?: () => Promise<string>;
  /** Puts a fresh token to use: on the live connection (`auth:refresh`) and for api calls. */
  readonly apply: (token: string) => Promise<void>;
  readonly print: (line: string) => void;
  readonly printError: (line: string) => void;
}

const at = (ms: number) => localTime(new Date(ms).toISOString());

/**
 * Keeps a chat session signed in past its token's `exp` (broadcast closes a connection whose
 * token ended): renews the token ahead of time when the CLI minted it, or says in time that it
 * will end when it cannot.
 */
export class SessionRenewal {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Why the last renewal failed (undefined once one worked): said when the session ends. */
  lastFailure: string | undefined;

  constructor(private readonly options: SessionRenewalOptions) {}

  get renewable(): boolean {
    return this.options.mint !== undefined;
  }

  start(): void {
    this.watch(this.options.token);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number, run: () => void): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(run, Math.max(0, delayMs));
    // The session's input keeps the process alive, not this.
    this.timer.unref();
  }

  private watch(token: string): void {
    const endMs = tokenExpiry(token);
    const whenMs = renewalTime(token);
    if (endMs === undefined || whenMs === undefined) return;
    this.schedule(whenMs - Date.now(), () =>
      this.options.mint ? void this.renew(endMs, 0) : this.warn(endMs),
    );
  }

  private warn(endMs: number): void {
    this.options.printError(
      `warning: your token expires at ${at(endMs)} (in ${durationText(endMs - Date.now())}) and a token ` +
        'given with --token cannot be renewed here: get a fresh one and start again with --token NEW ' +
        '(or --user USER where the api issues dev tokens)',
    );
  }

  private async renew(endMs: number, failures: number): Promise<void> {
    const { mint, apply, print, printError } = this.options;
    if (!mint || this.stopped) return;
    let fresh: string;
    try {
      fresh = await mint();
      await apply(fresh);
    } catch (err) {
      if (this.stopped) return;
      const reason = (err as Error).message;
      this.lastFailure = reason;
      const wait = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** failures);
      if (Date.now() + wait < endMs) {
        printError(`error: could not renew the sign-in (${reason}), trying again in ${durationText(wait)}`);
        this.schedule(wait, () => void this.renew(endMs, failures + 1));
      } else {
        printError(`error: could not renew the sign-in (${reason}); it ends at ${at(endMs)}`);
      }
      return;
    }
    if (this.stopped) return;
    this.lastFailure = undefined;
    const freshEnd = tokenExpiry(fresh);
    print(`* sign-in renewed${freshEnd === undefined ? '' : `, valid until ${at(freshEnd)}`}`);
    this.watch(fresh);
  }
}

import { randomUUID } from 'node:crypto';
import { ApiError, type AcceptedBid, type ApiClient } from './api-client.js';

/**
 * A bid whose answer was lost may have been placed: the api says so (503 `outcome_unknown`: the
 * bid reached Redis, no answer came back), or no answer arrives at all. Asking again with the
 * same Idempotency-Key is safe: the api replays the first answer, or places the bid once if the
 * first never arrived, and a replay never counts against the rate limit.
 */

/** Tries in all, the first included. */
export const BID_TRIES = 5;
/** Waits between tries: 1 s, 2 s, 4 s, then 8 s (the api's Retry-After is 1 s). */
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 8000;

/** The bid may or may not have been placed. */
export function outcomeUnknown(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  if (err.status === 503) return err.code === 'outcome_unknown';
  // No answer (timeout, connection reset after sending) or a proxy that gave up on the api.
  if (err.status === undefined) return err.code !== 'unreachable';
  return err.status === 502 || err.status === 504;
}

export function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1));
}

export interface BidRetryOptions {
  /** Told before each wait: how many tries failed so far, and how long until the next. */
  readonly onChecking?: (failures: number, waitMs: number) => void;
  /** @default BID_TRIES */
  readonly tries?: number;
}

/**
 * Places one bid: one Idempotency-Key for every try of it, a bounded number of tries with
 * backoff while the outcome is unknown. Resolves to the accepted bid; throws the api's refusal
 * (a 503 other than outcome_unknown placed nothing, and says so), or, when the tries ran out, an
 * ApiError saying the outcome is still unknown.
 */
export async function placeBidWithRetry(
  api: ApiClient,
  itemId: string,
  amount: string,
  options: BidRetryOptions = {},
): Promise<AcceptedBid> {
  const tries = options.tries ?? BID_TRIES;
  const key = randomUUID();
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.bid(itemId, amount, key);
    } catch (err) {
      if (!outcomeUnknown(err)) {
        if (err instanceof ApiError && err.status === 503) {
          throw new ApiError(`bid not placed: ${err.message}`, err.status, err.code);
        }
        throw err;
      }
      if (attempt >= tries) {
        throw new ApiError(
          `could not find out whether the bid of ${amount} on ${itemId} counted (no answer after ${tries} ` +
            `tries): /watch ${itemId} shows it if it did; bidding again places a new bid`,
          (err as ApiError).status,
          (err as ApiError).code,
        );
      }
      const wait = backoffMs(attempt);
      options.onChecking?.(attempt, wait);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

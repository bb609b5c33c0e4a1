/* global crypto */
import { ApiFailure } from './api.js';

/**
 * A bid whose answer was lost may have been placed. The api says so (503 `outcome_unknown`: the
 * bid reached Redis, no answer came back), or no answer arrives at all. Asking again with the
 * same Idempotency-Key is safe: the api replays the first answer, or places the bid once if the
 * first never arrived, and a replay never counts against the rate limit.
 */

/** Tries in all, the first included; then the page says it could not find out. */
export const BID_TRIES = 5;
/** Waits between tries: 1 s, 2 s, 4 s, then 8 s (the api's Retry-After is 1 s). */
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 8000;

/** The bid may or may not have been placed. */
export function outcomeUnknown(err) {
  if (!(err instanceof ApiFailure)) return false;
  if (err.status === 503) return err.body?.error === 'outcome_unknown';
  // No answer (the network failed after the request may have left) or a proxy that gave up
  // waiting for the api: the api may have placed it.
  return err.status === 0 || err.status === 502 || err.status === 504;
}

/** Tries ran out and the answer is still unknown. */
export class BidOutcomeUnknown extends Error {
  constructor(tries) {
    super(
      `We could not find out whether your bid went through (no answer after ${tries} tries). ` +
        'Watch the bid list: it shows the bid if it was placed. Bidding again places a new bid.',
    );
    this.name = 'BidOutcomeUnknown';
  }
}

function backoffMs(failures) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1));
  // A little jitter, so that many pages cut off together do not all come back at once.
  return base + Math.floor(Math.random() * base * 0.2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Places one bid: one Idempotency-Key for every try of it, a bounded number of tries with
 * backoff while the outcome is unknown. `api` is called per try, so a token renewed meanwhile
 * is used. Resolves to the accepted bid; throws the api's refusal, or BidOutcomeUnknown.
 * @param {() => import('./api.js').Api} api
 * @param {{ onChecking?: (failures: number) => void, tries?: number }} [options]
 */
export async function placeBidWithRetry(
  api,
  itemId,
  amount,
  { onChecking = () => {}, tries = BID_TRIES } = {},
) {
  const key = crypto.randomUUID();
  for (let attempt = 1; ; attempt++) {
    try {
      return await api().placeBid(itemId, amount, key);
    } catch (err) {
      if (!outcomeUnknown(err)) throw err;
      if (attempt >= tries) throw new BidOutcomeUnknown(tries);
      onChecking(attempt);
      await sleep(backoffMs(attempt));
    }
  }
}

/** What a failed bid tells the user: a 503 other than outcome_unknown placed nothing. */
export function bidFailureMessage(err) {
  if (err instanceof ApiFailure && err.status === 503) {
    return 'Your bid was not placed: the service is unavailable right now. Try again in a few seconds.';
  }
  return err instanceof Error ? err.message : String(err);
}

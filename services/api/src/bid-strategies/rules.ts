import { makeEvent, type GavelEvent } from '@gavel/shared';

/**
 * The bidding rules, shared by both strategies. The optimistic strategy calls `decideBid`
 * directly; the Lua script (lua.ts) is a line-by-line transcription of it, and the test suite
 * runs every rule against both so that they give the same answers.
 */

export interface HighestBid {
  readonly cents: number;
  readonly userId: string;
  readonly seq: number;
  readonly atMs: number;
}

export interface ItemState {
  readonly id: string;
  readonly title: string;
  readonly status: 'open' | 'closed';
  readonly startingPriceCents: number;
  readonly minIncrementCents: number;
  readonly endsAtMs: number;
  readonly openedAtMs: number;
  readonly closedAtMs: number | null;
  /** Last accepted seq; 0 before the first bid. Equal to the bid count. */
  readonly seq: number;
  readonly highest: HighestBid | null;
}

/** Parses an item hash (HGETALL); null when the item does not exist. */
export function parseItem(id: string, hash: Record<string, string>): ItemState | null {
  if (!hash.status) return null;
  const seq = Number(hash.seq ?? 0);
  const highest =
    hash.highestCents !== undefined && hash.highestUser !== undefined
      ? {
          cents: Number(hash.highestCents),
          userId: hash.highestUser,
          seq,
          atMs: Number(hash.highestAt ?? 0),
        }
      : null;
  return {
    id,
    title: hash.title ?? id,
    status: hash.status === 'closed' ? 'closed' : 'open',
    startingPriceCents: Number(hash.startingPriceCents),
    minIncrementCents: Number(hash.minIncrementCents),
    endsAtMs: Number(hash.endsAt),
    openedAtMs: Number(hash.openedAt ?? 0),
    closedAtMs: hash.closedAt === undefined ? null : Number(hash.closedAt),
    seq,
    highest,
  };
}

/** An item is closed once its status says so or its end has passed, closer or not. */
export function isClosed(item: ItemState, nowMs: number): boolean {
  return item.status !== 'open' || nowMs >= item.endsAtMs;
}

export function minimumBidCents(item: ItemState): number {
  return item.highest ? item.highest.cents + item.minIncrementCents : item.startingPriceCents;
}

/** What a bid attempt came to; stored verbatim as the Idempotency-Key answer. */
export type BidOutcome =
  | {
      outcome: 'accepted';
      itemId: string;
      seq: number;
      amountCents: number;
      userId: string;
      atMs: number;
      endsAtMs: number;
      extended: boolean;
    }
  | {
      outcome: 'too_low';
      itemId: string;
      highestCents: number | null;
      minimumCents: number;
    }
  | { outcome: 'closed'; itemId: string; endsAtMs: number }
  | { outcome: 'not_found'; itemId: string }
  /** Answered without touching state, never stored under an Idempotency-Key. */
  | { outcome: 'outbox_full' }
  | { outcome: 'rate_limited'; retryAfterMs: number }
  | { outcome: 'contention' }
  | { outcome: 'idempotency_mismatch' };

/** What the Idempotency-Key stores: the request's item and amount (to spot a reused key) and the outcome. */
export interface StoredAnswer {
  readonly itemId: string;
  readonly amountCents: number;
  readonly result: BidOutcome;
}

export interface BidRequest {
  readonly itemId: string;
  readonly userId: string;
  readonly amountCents: number;
}

export interface RuleOptions {
  readonly autoOpen: boolean;
  readonly autoOpenDurationMs: number;
  readonly extendWindowMs: number;
  readonly extendByMs: number;
}

/** The item an AUTO_OPEN_ITEMS bid opens: cheapest possible prices, titled with its id. */
export const AUTO_OPEN_PRICE_CENTS = 1;
export const AUTO_OPEN_INCREMENT_CENTS = 1;

export type BidDecision =
  | { kind: 'reject'; outcome: BidOutcome }
  | {
      kind: 'accept';
      /** Set when the bid opened the item (AUTO_OPEN_ITEMS). */
      opened: ItemState | null;
      seq: number;
      endsAtMs: number;
      extended: boolean;
    };

export function decideBid(
  current: ItemState | null,
  bid: BidRequest,
  nowMs: number,
  options: RuleOptions,
): BidDecision {
  let item = current;
  let opened: ItemState | null = null;
  if (!item) {
    if (!options.autoOpen) return { kind: 'reject', outcome: { outcome: 'not_found', itemId: bid.itemId } };
    opened = {
      id: bid.itemId,
      title: bid.itemId,
      status: 'open',
      startingPriceCents: AUTO_OPEN_PRICE_CENTS,
      minIncrementCents: AUTO_OPEN_INCREMENT_CENTS,
      endsAtMs: nowMs + options.autoOpenDurationMs,
      openedAtMs: nowMs,
      closedAtMs: null,
      seq: 0,
      highest: null,
    };
    item = opened;
  }
  if (isClosed(item, nowMs)) {
    return { kind: 'reject', outcome: { outcome: 'closed', itemId: bid.itemId, endsAtMs: item.endsAtMs } };
  }
  const minimum = minimumBidCents(item);
  if (bid.amountCents < minimum) {
    return {
      kind: 'reject',
      outcome: {
        outcome: 'too_low',
        itemId: bid.itemId,
        highestCents: item.highest?.cents ?? null,
        minimumCents: minimum,
      },
    };
  }
  let endsAtMs = item.endsAtMs;
  let extended = false;
  // Anti-sniping: a bid in the last window pushes the end out, so others can answer it.
  if (options.extendWindowMs > 0 && endsAtMs - nowMs <= options.extendWindowMs) {
    const pushed = nowMs + options.extendByMs;
    if (pushed > endsAtMs) {
      endsAtMs = pushed;
      extended = true;
    }
  }
  return { kind: 'accept', opened, seq: item.seq + 1, endsAtMs, extended };
}

/** The events an accepted bid appends to the outbox, in order. */
export function acceptedEvents(
  bid: BidRequest,
  decision: Extract<BidDecision, { kind: 'accept' }>,
  nowMs: number,
  ids: EventIds,
): GavelEvent[] {
  const at = new Date(nowMs);
  const events: GavelEvent[] = [];
  if (decision.opened) {
    events.push(
      makeEvent(
        'item.opened',
        {
          itemId: bid.itemId,
          title: decision.opened.title,
          startingPriceCents: decision.opened.startingPriceCents,
          minIncrementCents: decision.opened.minIncrementCents,
          endsAt: new Date(decision.opened.endsAtMs).toISOString(),
        },
        { id: ids.opened, at },
      ),
    );
  }
  events.push(
    makeEvent(
      'bid.accepted',
      { itemId: bid.itemId, seq: decision.seq, userId: bid.userId, amountCents: bid.amountCents },
      { id: ids.bid, at },
    ),
  );
  if (decision.extended) {
    events.push(
      makeEvent(
        'item.extended',
        { itemId: bid.itemId, seq: decision.seq, endsAt: new Date(decision.endsAtMs).toISOString() },
        { id: ids.extended, at },
      ),
    );
  }
  return events;
}

/** Event ids are made by the app (unique, and the Nats-Msg-Id), whichever strategy applies the bid. */
export interface EventIds {
  readonly bid: string;
  readonly extended: string;
  readonly opened: string;
}

/**
 * The ids of the events one bid may cause, from one fresh unique id: the bid's event has it, an
 * extension or an opening adds a suffix (the Lua script spells the same suffixes).
 */
export function eventIdsFrom(base: string): EventIds {
  return { bid: base, extended: `${base}-extended`, opened: `${base}-opened` };
}

export interface BidStrategy {
  readonly name: 'lua' | 'optimistic';
  /**
   * Applies one bid atomically. `idempotencyKey` is the user-scoped Redis key of the request's
   * Idempotency-Key, if any: a stored answer is replayed before anything else, and a replay
   * does not count against the bidder's rate limit. Rejects only when Redis is unavailable:
   * DependencyUnavailableError when nothing was applied, OutcomeUnknownError when the write
   * was sent and not answered.
   */
  placeBid(bid: BidRequest, idempotencyKey: string | null): Promise<BidOutcome & { replayed?: boolean }>;
  /** Waits (at most `timeoutMs`) for connections of the strategy's own; false if some are not up. */
  ready?(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Compares a stored answer with the request that reuses its key. */
export function replayStored(raw: string, bid: BidRequest): BidOutcome & { replayed: true } {
  const stored = JSON.parse(raw) as StoredAnswer;
  if (stored.itemId !== bid.itemId || stored.amountCents !== bid.amountCents)
    return { outcome: 'idempotency_mismatch', replayed: true };
  return { ...stored.result, replayed: true };
}

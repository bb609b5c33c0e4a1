import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { makeEvent } from '@gavel/shared';
import type { RedisKeys } from '../redis-keys.js';
import { PLACE_BID_SCRIPT } from './lua-scripts.js';
import {
  AUTO_OPEN_INCREMENT_CENTS,
  AUTO_OPEN_PRICE_CENTS,
  replayStored,
  type BidOutcome,
  type BidStrategy,
  type RuleOptions,
} from './rules.js';

type PlaceBidCommand = (
  item: string,
  openItems: string,
  outbox: string,
  idempotency: string,
  ...argv: string[]
) => Promise<[string, string]>;

export interface StrategyOptions extends RuleOptions {
  readonly keys: RedisKeys;
  readonly idempotencyTtlS: number;
  readonly outboxMaxPending: number;
}

/**
 * Strategy "lua": one script (EVALSHA, loaded by ioredis on first use) applies the whole bid,
 * so contention costs no retries, only a place in Redis's single-threaded queue.
 */
export function createLuaStrategy(redis: Redis, options: StrategyOptions): BidStrategy {
  if (!('gavelPlaceBid' in redis)) {
    redis.defineCommand('gavelPlaceBid', { numberOfKeys: 4, lua: PLACE_BID_SCRIPT });
  }
  const placeBid = (redis as unknown as { gavelPlaceBid: PlaceBidCommand }).gavelPlaceBid.bind(redis);
  const k = options.keys;
  return {
    name: 'lua',
    async placeBid(bid, idempotencyKey) {
      // Templates: the app makes the event (id, type, v and payload); the script fills in what
      // only it knows (seq, at, endsAt).
      const bidEvent = makeEvent(
        'bid.accepted',
        { itemId: bid.itemId, seq: 1, userId: bid.userId, amountCents: bid.amountCents },
        { id: randomUUID() },
      );
      const extended = makeEvent(
        'item.extended',
        { itemId: bid.itemId, seq: 1, endsAt: bidEvent.at },
        { id: randomUUID() },
      );
      const opened = options.autoOpen
        ? makeEvent(
            'item.opened',
            {
              itemId: bid.itemId,
              title: bid.itemId,
              startingPriceCents: AUTO_OPEN_PRICE_CENTS,
              minIncrementCents: AUTO_OPEN_INCREMENT_CENTS,
              endsAt: bidEvent.at,
            },
            { id: randomUUID() },
          )
        : null;
      const [kind, json] = await placeBid(
        k.item(bid.itemId),
        k.openItems,
        k.outbox,
        idempotencyKey ?? k.noIdempotency,
        bid.itemId,
        bid.userId,
        String(bid.amountCents),
        JSON.stringify(bidEvent),
        JSON.stringify(extended),
        opened ? JSON.stringify(opened) : '{}',
        idempotencyKey ? '1' : '0',
        String(options.idempotencyTtlS),
        String(options.outboxMaxPending),
        options.autoOpen ? '1' : '0',
        String(options.autoOpenDurationMs),
        String(options.extendWindowMs),
        String(options.extendByMs),
      );
      if (kind === 'replay') return replayStored(json, bid);
      return JSON.parse(json) as BidOutcome;
    },
    async close() {},
  };
}

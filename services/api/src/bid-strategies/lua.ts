import { createHash, randomUUID } from 'node:crypto';
import { EVENT_VERSION, inRedisSpan, outboxTraceparent } from '@gavel/shared';
import type { RedisKeys } from '../redis-keys.js';
import { sendWrite, type RedisClient } from '../redis-client.js';
import { placeBidScript } from './lua-scripts.js';
import {
  AUTO_OPEN_INCREMENT_CENTS,
  AUTO_OPEN_PRICE_CENTS,
  replayStored,
  type BidOutcome,
  type BidRequest,
  type BidStrategy,
  type RuleOptions,
} from './rules.js';

type PlaceBidReply = [kind: string, ...values: Array<string | number>];
type PlaceBidCommand = (...keysThenArgv: string[]) => Promise<PlaceBidReply>;

export interface StrategyOptions extends RuleOptions {
  readonly keys: RedisKeys;
  readonly idempotencyTtlS: number;
  readonly outboxMaxPending: number;
  /** Bids per second per user, counted in Redis by the bid itself. */
  readonly bidsPerSecond: number;
}

/**
 * Strategy "lua": one script (EVALSHA, loaded by ioredis on first use) applies the whole bid,
 * Idempotency-Key replay and rate limit included, so a bid is one round trip to Redis and
 * contention costs no retries, only a place in Redis's single-threaded queue.
 */
export function createLuaStrategy(redis: RedisClient, options: StrategyOptions): BidStrategy {
  const script = placeBidScript({
    autoOpen: options.autoOpen,
    autoOpenDurationMs: options.autoOpenDurationMs,
    autoOpenPriceCents: AUTO_OPEN_PRICE_CENTS,
    autoOpenIncrementCents: AUTO_OPEN_INCREMENT_CENTS,
    extendWindowMs: options.extendWindowMs,
    extendByMs: options.extendByMs,
    idempotencyTtlS: options.idempotencyTtlS,
    outboxMaxPending: options.outboxMaxPending,
    bidsPerSecond: options.bidsPerSecond,
    eventVersion: EVENT_VERSION,
  });
  // One command per configuration: replicas (and tests) with other settings load their own script.
  const name = `gavelPlaceBid_${createHash('sha1').update(script).digest('hex').slice(0, 12)}`;
  if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 5, lua: script });
  const placeBid = (redis as unknown as Record<string, PlaceBidCommand>)[name]!.bind(redis);
  const k = options.keys;
  return {
    name: 'lua',
    async placeBid(bid, idempotencyKey) {
      // Every key in the item's partition: one hash slot, so one shard runs the whole script.
      const partition = k.partitionOf(bid.itemId);
      const traced = { 'gavel.item.id': bid.itemId, 'gavel.strategy': 'lua' };
      const reply = await inRedisSpan('place_bid', traced, () =>
        sendWrite(redis, () =>
          placeBid(
            k.item(bid.itemId),
            partition.openItems,
            partition.outbox,
            idempotencyKey ?? partition.noIdempotency,
            k.bidRateLimit(bid.itemId, bid.userId),
            bid.itemId,
            bid.userId,
            String(bid.amountCents),
            randomUUID(),
            idempotencyKey ? '1' : '0',
            outboxTraceparent(),
          ),
        ),
      );
      return outcomeOf(reply, bid);
    },
    async close() {},
  };
}

/** The script's flat reply as a BidOutcome. */
function outcomeOf(reply: PlaceBidReply, bid: BidRequest): BidOutcome & { replayed?: boolean } {
  const { itemId, userId, amountCents } = bid;
  const [kind, a, b, c, d] = reply;
  switch (kind) {
    case 'accepted':
      return {
        outcome: 'accepted',
        itemId,
        seq: Number(a),
        amountCents,
        userId,
        atMs: Number(b),
        endsAtMs: Number(c),
        extended: Number(d) === 1,
      };
    case 'too_low':
      return {
        outcome: 'too_low',
        itemId,
        highestCents: Number(a) < 0 ? null : Number(a),
        minimumCents: Number(b),
      };
    case 'closed':
      return { outcome: 'closed', itemId, endsAtMs: Number(a) };
    case 'not_found':
      return { outcome: 'not_found', itemId };
    case 'outbox_full':
      return { outcome: 'outbox_full' };
    case 'rate_limited':
      return { outcome: 'rate_limited', retryAfterMs: Number(a) };
    case 'replay':
      return replayStored(String(a), bid);
    default:
      throw new Error(`bid script answered ${String(kind)}`);
  }
}

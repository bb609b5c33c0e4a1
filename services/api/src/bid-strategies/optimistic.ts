import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChainableCommander } from 'ioredis';
import { encodeEvent, isCluster, outboxTraceparent } from '@gavel/shared';
import { classifyWriteError, noteRedirect, onNodeOf, waitReady, type RedisClient } from '../redis-client.js';
import { bidRateLimitScript } from './lua-scripts.js';
import type { StrategyOptions } from './lua.js';
import {
  acceptedEvents,
  decideBid,
  eventIdsFrom,
  parseItem,
  replayStored,
  type BidOutcome,
  type BidRequest,
  type BidStrategy,
  type StoredAnswer,
} from './rules.js';

export interface OptimisticOptions extends StrategyOptions {
  /** Attempts before answering "contention". */
  readonly maxRetries: number;
  /** Dedicated connections: WATCH state belongs to a connection, so each transaction needs its own. */
  readonly connections: number;
  /** Makes one dedicated connection. */
  readonly connect: () => RedisClient;
  /** Called once per failed EXEC (a concurrent write touched a watched key). */
  readonly onRetry?: () => void;
}

const decoder = new TextDecoder();

/** A fixed set of connections handed out one transaction at a time. */
class ConnectionPool {
  private readonly idle: RedisClient[] = [];
  private readonly all: RedisClient[] = [];
  private readonly waiters: Array<(c: RedisClient) => void> = [];

  constructor(size: number, connect: () => RedisClient) {
    for (let i = 0; i < size; i++) {
      const c = connect();
      this.all.push(c);
      this.idle.push(c);
    }
  }

  async use<T>(fn: (c: RedisClient) => Promise<T>): Promise<T> {
    const c = this.idle.pop() ?? (await new Promise<RedisClient>((resolve) => this.waiters.push(resolve)));
    try {
      return await fn(c);
    } finally {
      const next = this.waiters.shift();
      if (next) next(c);
      else this.idle.push(c);
    }
  }

  /** Without an offline queue, a bid handed a connection that is still opening would fail. */
  async ready(timeoutMs: number): Promise<boolean> {
    return (await Promise.all(this.all.map((c) => waitReady(c, timeoutMs)))).every(Boolean);
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

/** UNWATCH names no key: sent beside the watched key, it reaches the connection that holds the watch. */
async function releaseWatch(c: RedisClient, watchedKey: string): Promise<void> {
  if (isCluster(c)) await onNodeOf(c, watchedKey, (p) => p.unwatch());
  else await c.unwatch();
}

/**
 * Strategy "optimistic": WATCH the item (and the Idempotency-Key), read, decide with the shared
 * rules, then MULTI/EXEC the writes; EXEC fails if anyone wrote a watched key meanwhile, and
 * the attempt is retried after a jittered backoff, up to maxRetries.
 */
export function createOptimisticStrategy(options: OptimisticOptions): BidStrategy {
  const rateLimit = bidRateLimitScript(options.bidsPerSecond);
  const rateLimitCommand = `gavelBidRateLimit_${createHash('sha1').update(rateLimit).digest('hex').slice(0, 12)}`;
  const pool = new ConnectionPool(options.connections, () => {
    const c = options.connect();
    c.defineCommand(rateLimitCommand, { numberOfKeys: 2, lua: rateLimit });
    return c;
  });
  const k = options.keys;

  /** One WATCH/read/decide/EXEC round; null when EXEC lost a race. `counted` once the rate limit has seen the request. */
  async function attempt(
    c: RedisClient,
    bid: BidRequest,
    idemKey: string | null,
    counted: boolean,
  ): Promise<BidOutcome | null> {
    const itemKey = k.item(bid.itemId);
    // Every key in the item's partition: one hash slot, so in a cluster the WATCH, the reads and
    // the MULTI/EXEC all go to the one node connection that holds the watch.
    const partition = k.partitionOf(bid.itemId);
    await (idemKey ? c.watch(itemKey, idemKey) : c.watch(itemKey));
    const unwatch = () => releaseWatch(c, itemKey);
    try {
      const read = c.pipeline().hgetall(itemKey).time().xlen(partition.outbox);
      if (idemKey) read.get(idemKey);
      if (!counted) {
        const limit = (read as unknown as Record<string, (...a: string[]) => ChainableCommander>)[
          rateLimitCommand
        ]!;
        limit.call(
          read,
          idemKey ?? partition.noIdempotency,
          k.bidRateLimit(bid.itemId, bid.userId),
          idemKey ? '1' : '0',
        );
      }
      const results = await read.exec();
      if (!results) throw new Error('pipeline aborted');
      for (const [err] of results) if (err) throw err;
      const hash = results[0]![1] as Record<string, string>;
      const [secs, micros] = results[1]![1] as [string, string];
      const depth = results[2]![1] as number;
      const stored = idemKey ? (results[3]![1] as string | null) : null;
      if (stored) {
        await unwatch();
        return replayStored(stored, bid);
      }
      const limited = counted ? 0 : Number(results[idemKey ? 4 : 3]![1]);
      if (limited > 0) {
        await unwatch();
        return { outcome: 'rate_limited', retryAfterMs: limited };
      }
      if (depth >= options.outboxMaxPending) {
        await unwatch();
        return { outcome: 'outbox_full' };
      }
      const nowMs = Number(secs) * 1000 + Math.floor(Number(micros) / 1000);
      const decision = decideBid(parseItem(bid.itemId, hash), bid, nowMs, options);
      if (decision.kind === 'reject' && !idemKey) {
        await unwatch();
        return decision.outcome;
      }
      const tx = c.multi();
      let result: BidOutcome;
      if (decision.kind === 'reject') {
        result = decision.outcome;
      } else {
        result = {
          outcome: 'accepted',
          itemId: bid.itemId,
          seq: decision.seq,
          amountCents: bid.amountCents,
          userId: bid.userId,
          atMs: nowMs,
          endsAtMs: decision.endsAtMs,
          extended: decision.extended,
        };
        if (decision.opened) {
          const o = decision.opened;
          tx.hset(itemKey, {
            id: o.id,
            title: o.title,
            status: 'open',
            startingPriceCents: o.startingPriceCents,
            minIncrementCents: o.minIncrementCents,
            openedAt: nowMs,
          });
        }
        tx.hset(itemKey, {
          seq: decision.seq,
          highestCents: bid.amountCents,
          highestUser: bid.userId,
          highestAt: nowMs,
          endsAt: decision.endsAtMs,
        });
        if (decision.opened || decision.extended) tx.zadd(partition.openItems, decision.endsAtMs, bid.itemId);
        // The request's trace context rides with each entry, as in the lua strategy.
        const traceparent = outboxTraceparent();
        const trace = traceparent ? ['traceparent', traceparent] : [];
        for (const event of acceptedEvents(bid, decision, nowMs, eventIdsFrom(randomUUID()))) {
          tx.xadd(partition.outbox, '*', 'event', decoder.decode(encodeEvent(event)), ...trace);
        }
      }
      if (idemKey) {
        const answer: StoredAnswer = { itemId: bid.itemId, amountCents: bid.amountCents, result };
        tx.set(idemKey, JSON.stringify(answer), 'EX', options.idempotencyTtlS);
      }
      // Sent but unanswered, EXEC may have applied the bid: the caller must not be told it did not.
      const committed = await tx.exec().catch((err: unknown) => {
        noteRedirect(c, err);
        throw classifyWriteError(err);
      });
      if (committed === null) return null;
      for (const [err] of committed) if (err) throw err;
      return result;
    } catch (err) {
      await unwatch().catch(() => undefined);
      throw err;
    }
  }

  return {
    name: 'optimistic',
    ready: (timeoutMs) => pool.ready(timeoutMs),
    async placeBid(bid, idempotencyKey) {
      for (let i = 0; i < options.maxRetries; i++) {
        const result = await pool.use((c) => attempt(c, bid, idempotencyKey, i > 0));
        if (result) return result;
        options.onRetry?.();
        // Full jitter, capped: spreads the losers out so the next round has fewer collisions.
        await sleep(Math.random() * Math.min(50, 2 * 2 ** i));
      }
      return { outcome: 'contention' };
    },
    async close() {
      await pool.close();
    },
  };
}

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { encodeEvent } from '@gavel/shared';
import type { StrategyOptions } from './lua.js';
import {
  acceptedEvents,
  decideBid,
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
  readonly connect: () => Redis;
  /** Called once per failed EXEC (a concurrent write touched a watched key). */
  readonly onRetry?: () => void;
}

const decoder = new TextDecoder();

/** A fixed set of connections handed out one transaction at a time. */
class ConnectionPool {
  private readonly idle: Redis[] = [];
  private readonly all: Redis[] = [];
  private readonly waiters: Array<(c: Redis) => void> = [];

  constructor(size: number, connect: () => Redis) {
    for (let i = 0; i < size; i++) {
      const c = connect();
      this.all.push(c);
      this.idle.push(c);
    }
  }

  async use<T>(fn: (c: Redis) => Promise<T>): Promise<T> {
    const c = this.idle.pop() ?? (await new Promise<Redis>((resolve) => this.waiters.push(resolve)));
    try {
      return await fn(c);
    } finally {
      const next = this.waiters.shift();
      if (next) next(c);
      else this.idle.push(c);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

/**
 * Strategy "optimistic": WATCH the item (and the Idempotency-Key), read, decide with the shared
 * rules, then MULTI/EXEC the writes; EXEC fails if anyone wrote a watched key meanwhile, and
 * the attempt is retried after a jittered backoff, up to maxRetries.
 */
export function createOptimisticStrategy(options: OptimisticOptions): BidStrategy {
  const pool = new ConnectionPool(options.connections, options.connect);
  const k = options.keys;

  async function attempt(c: Redis, bid: BidRequest, idemKey: string | null): Promise<BidOutcome | null> {
    const itemKey = k.item(bid.itemId);
    await (idemKey ? c.watch(itemKey, idemKey) : c.watch(itemKey));
    try {
      const read = c.pipeline().hgetall(itemKey).time().xlen(k.outbox);
      if (idemKey) read.get(idemKey);
      const results = await read.exec();
      if (!results) throw new Error('pipeline aborted');
      for (const [err] of results) if (err) throw err;
      const hash = results[0]![1] as Record<string, string>;
      const [secs, micros] = results[1]![1] as [string, string];
      const depth = results[2]![1] as number;
      const stored = idemKey ? (results[3]![1] as string | null) : null;
      if (stored) {
        await c.unwatch();
        return replayStored(stored, bid);
      }
      if (depth >= options.outboxMaxPending) {
        await c.unwatch();
        return { outcome: 'outbox_full' };
      }
      const nowMs = Number(secs) * 1000 + Math.floor(Number(micros) / 1000);
      const decision = decideBid(parseItem(bid.itemId, hash), bid, nowMs, options);
      if (decision.kind === 'reject' && !idemKey) {
        await c.unwatch();
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
        if (decision.opened || decision.extended) tx.zadd(k.openItems, decision.endsAtMs, bid.itemId);
        const ids = { bid: randomUUID(), extended: randomUUID(), opened: randomUUID() };
        for (const event of acceptedEvents(bid, decision, nowMs, ids)) {
          tx.xadd(k.outbox, '*', 'event', decoder.decode(encodeEvent(event)));
        }
      }
      if (idemKey) {
        const answer: StoredAnswer = { itemId: bid.itemId, amountCents: bid.amountCents, result };
        tx.set(idemKey, JSON.stringify(answer), 'EX', options.idempotencyTtlS);
      }
      const committed = await tx.exec();
      if (committed === null) return null;
      for (const [err] of committed) if (err) throw err;
      return result;
    } catch (err) {
      await c.unwatch().catch(() => undefined);
      throw err;
    }
  }

  return {
    name: 'optimistic',
    async placeBid(bid, idempotencyKey) {
      for (let i = 0; i < options.maxRetries; i++) {
        const result = await pool.use((c) => attempt(c, bid, idempotencyKey));
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

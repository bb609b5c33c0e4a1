import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeEvent, type Logger } from '@gavel/shared';
import type { RedisClient } from './redis-client.js';
import type { Partition, RedisKeys } from './redis-keys.js';
import { CLOSE_ITEM_SCRIPT } from './bid-strategies/lua-scripts.js';

type CloseItemCommand = (
  item: string,
  openItems: string,
  closedItems: string,
  outbox: string,
  ...argv: string[]
) => Promise<string>;

export interface AuctionCloserOptions {
  readonly keys: RedisKeys;
  readonly intervalMs: number;
  readonly logger: Logger;
  /** Called once per item this closer closed. */
  readonly onClosed?: (itemId: string) => void;
  /** @default 100 */
  readonly batch?: number;
}

/** Consecutive failed passes before the closer warns. */
const WARN_AFTER_FAILURES = 3;

/**
 * Closes items whose endsAt has passed. Every replica runs one; the close script checks and
 * flips the status atomically, so each item is closed (and item.closed emitted) exactly once.
 * Each partition has its own work list (in a cluster they are spread over the shards), and a
 * pass looks at all of them.
 */
export class AuctionCloser {
  private readonly close: CloseItemCommand;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: AuctionCloserOptions,
  ) {
    if (!('gavelCloseItem' in redis)) {
      redis.defineCommand('gavelCloseItem', { numberOfKeys: 4, lua: CLOSE_ITEM_SCRIPT });
    }
    this.close = (redis as unknown as { gavelCloseItem: CloseItemCommand }).gavelCloseItem.bind(redis);
  }

  /** One pass over the due items of every partition; returns how many this call closed. */
  async closeDue(): Promise<number> {
    const [secs] = await this.redis.time();
    // Redis's clock, not ours, decides what is due (the script checks again, by its shard's clock).
    const dueBy = Number(secs) * 1000 + 999;
    // A partition whose shard fails does not hold up the others; the pass fails after them.
    const passes = await Promise.allSettled(
      this.options.keys.partitions.map((p) => this.closeDueIn(p, dueBy)),
    );
    const failed = passes.find((p) => p.status === 'rejected');
    if (failed) throw failed.reason;
    return passes.reduce((sum, p) => sum + (p.status === 'fulfilled' ? p.value : 0), 0);
  }

  private async closeDueIn(partition: Partition, dueBy: number): Promise<number> {
    const k = this.options.keys;
    const due = await this.redis.zrangebyscore(
      partition.openItems,
      '-inf',
      dueBy,
      'LIMIT',
      0,
      this.options.batch ?? 100,
    );
    let closed = 0;
    for (const itemId of due) {
      const template = makeEvent('item.closed', { itemId, bidCount: 0, winner: null }, { id: randomUUID() });
      const result = await this.close(
        k.item(itemId),
        partition.openItems,
        partition.closedItems,
        partition.outbox,
        itemId,
        JSON.stringify(template),
      );
      if (result === 'closed') {
        closed++;
        this.options.onClosed?.(itemId);
      }
    }
    return closed;
  }

  /**
   * Blocks until `signal` aborts. A failed pass is retried on the next tick; only failures that
   * persist are worth a warning (a loaded machine's first seconds can time one command out).
   */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.closeDue();
        if (failures >= WARN_AFTER_FAILURES) this.options.logger.info('auction closer recovered');
        failures = 0;
      } catch (err) {
        failures++;
        const log = this.options.logger;
        if (failures === WARN_AFTER_FAILURES) log.warn({ err, failures }, 'auction closer passes failing');
        else log.debug({ err, failures }, 'auction closer pass failed');
      }
      await sleep(this.options.intervalMs, undefined, { signal }).catch(() => undefined);
    }
  }
}

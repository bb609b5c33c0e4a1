import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { makeEvent, type Logger } from '@gavel/shared';
import type { RedisKeys } from './redis-keys.js';
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

/**
 * Closes items whose endsAt has passed. Every replica runs one; the close script checks and
 * flips the status atomically, so each item is closed (and item.closed emitted) exactly once.
 */
export class AuctionCloser {
  private readonly close: CloseItemCommand;

  constructor(
    private readonly redis: Redis,
    private readonly options: AuctionCloserOptions,
  ) {
    if (!('gavelCloseItem' in redis)) {
      redis.defineCommand('gavelCloseItem', { numberOfKeys: 4, lua: CLOSE_ITEM_SCRIPT });
    }
    this.close = (redis as unknown as { gavelCloseItem: CloseItemCommand }).gavelCloseItem.bind(redis);
  }

  /** One pass over the due items; returns how many this call closed. */
  async closeDue(): Promise<number> {
    const k = this.options.keys;
    const [secs] = await this.redis.time();
    // Redis's clock, not ours, decides what is due (the script checks again anyway).
    const due = await this.redis.zrangebyscore(
      k.openItems,
      '-inf',
      Number(secs) * 1000 + 999,
      'LIMIT',
      0,
      this.options.batch ?? 100,
    );
    let closed = 0;
    for (const itemId of due) {
      const template = makeEvent('item.closed', { itemId, bidCount: 0, winner: null }, { id: randomUUID() });
      const result = await this.close(
        k.item(itemId),
        k.openItems,
        k.closedItems,
        k.outbox,
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

  /** Blocks until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.closeDue();
      } catch (err) {
        this.options.logger.warn({ err }, 'auction closer pass failed');
      }
      await sleep(this.options.intervalMs, undefined, { signal }).catch(() => undefined);
    }
  }
}

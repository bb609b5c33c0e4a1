import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { makeEvent } from '@gavel/shared';
import type { RedisKeys } from './redis-keys.js';
import { CREATE_ITEM_SCRIPT } from './bid-strategies/lua-scripts.js';
import { parseItem, type ItemState } from './bid-strategies/rules.js';

export interface NewItem {
  readonly id: string;
  readonly title: string;
  readonly startingPriceCents: number;
  readonly minIncrementCents: number;
  readonly endsAtMs: number;
}

type CreateItemCommand = (
  item: string,
  openItems: string,
  outbox: string,
  ...argv: string[]
) => Promise<[string, string?]>;

/** Items as Redis holds them: the live state bids are judged against. */
export function createItemsRepository(redis: Redis, keys: RedisKeys) {
  if (!('gavelCreateItem' in redis)) {
    redis.defineCommand('gavelCreateItem', { numberOfKeys: 3, lua: CREATE_ITEM_SCRIPT });
  }
  const createItem = (redis as unknown as { gavelCreateItem: CreateItemCommand }).gavelCreateItem.bind(redis);

  async function getMany(ids: string[]): Promise<ItemState[]> {
    if (ids.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hgetall(keys.item(id));
    const results = (await pipeline.exec()) ?? [];
    const items: ItemState[] = [];
    results.forEach(([err, hash], i) => {
      if (err) throw err;
      const item = parseItem(ids[i]!, hash as Record<string, string>);
      if (item) items.push(item);
    });
    return items;
  }

  return {
    /** Opens an item and appends item.opened to the outbox, atomically; null if the id is taken. */
    async create(item: NewItem): Promise<ItemState | null> {
      const event = makeEvent(
        'item.opened',
        {
          itemId: item.id,
          title: item.title,
          startingPriceCents: item.startingPriceCents,
          minIncrementCents: item.minIncrementCents,
          endsAt: new Date(item.endsAtMs).toISOString(),
        },
        { id: randomUUID() },
      );
      const [result, openedAt] = await createItem(
        keys.item(item.id),
        keys.openItems,
        keys.outbox,
        item.id,
        JSON.stringify(event),
        String(item.endsAtMs),
        String(item.startingPriceCents),
        String(item.minIncrementCents),
        item.title,
      );
      if (result !== 'created') return null;
      return {
        ...item,
        status: 'open',
        openedAtMs: Number(openedAt),
        closedAtMs: null,
        seq: 0,
        highest: null,
      };
    },

    async get(id: string): Promise<ItemState | null> {
      return parseItem(id, await redis.hgetall(keys.item(id)));
    },

    /** Open items soonest-ending first, or closed items most recently closed first. */
    async list(status: 'open' | 'closed', limit: number): Promise<ItemState[]> {
      const ids =
        status === 'open'
          ? await redis.zrange(keys.openItems, 0, limit - 1)
          : await redis.zrange(keys.closedItems, 0, limit - 1, 'REV');
      return getMany(ids);
    },
  };
}

export type ItemsRepository = ReturnType<typeof createItemsRepository>;

import { randomUUID } from 'node:crypto';
import { makeEvent } from '@gavel/shared';
import type { RedisClient } from './redis-client.js';
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
  room: string,
  ...argv: string[]
) => Promise<[string, string?]>;

/** Items as Redis holds them: the live state bids are judged against. */
export function createItemsRepository(redis: RedisClient, keys: RedisKeys) {
  if (!('gavelCreateItem' in redis)) {
    redis.defineCommand('gavelCreateItem', { numberOfKeys: 4, lua: CREATE_ITEM_SCRIPT });
  }
  const createItem = (redis as unknown as { gavelCreateItem: CreateItemCommand }).gavelCreateItem.bind(redis);

  async function getMany(ids: string[]): Promise<ItemState[]> {
    // One command each: in a cluster the items live on several shards (auto-pipelining still
    // sends the commands of one turn in one write per node).
    const hashes = await Promise.all(ids.map((id) => redis.hgetall(keys.item(id))));
    return hashes.flatMap((hash, i) => parseItem(ids[i]!, hash) ?? []);
  }

  /**
   * The first `limit` ids of one index across every partition, by score: each partition's own
   * first `limit`, merged (a single node has one partition).
   */
  async function firstAcross(
    index: 'openItems' | 'closedItems',
    order: 'asc' | 'desc',
    limit: number,
  ): Promise<string[]> {
    const lists = await Promise.all(
      keys.partitions.map((p) =>
        order === 'asc'
          ? redis.zrange(p[index], 0, limit - 1, 'WITHSCORES')
          : redis.zrange(p[index], 0, limit - 1, 'REV', 'WITHSCORES'),
      ),
    );
    const entries: Array<{ id: string; score: number }> = [];
    for (const flat of lists) {
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: flat[i]!, score: Number(flat[i + 1]) });
    }
    if (lists.length > 1) {
      entries.sort((a, b) =>
        order === 'asc'
          ? a.score - b.score || a.id.localeCompare(b.id)
          : b.score - a.score || b.id.localeCompare(a.id),
      );
    }
    return entries.slice(0, limit).map((e) => e.id);
  }

  return {
    /**
     * Opens an item and appends item.opened to the outbox, atomically. 'exists': an item has the
     * id; 'private_room': a private room has it (the item's chat room would not be public).
     */
    async create(item: NewItem): Promise<ItemState | 'exists' | 'private_room'> {
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
      const partition = keys.partitionOf(item.id);
      const [result, openedAt] = await createItem(
        keys.item(item.id),
        partition.openItems,
        partition.outbox,
        keys.room(item.id).record,
        item.id,
        JSON.stringify(event),
        String(item.endsAtMs),
        String(item.startingPriceCents),
        String(item.minIncrementCents),
        item.title,
      );
      if (result === 'exists' || result === 'private_room') return result;
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
          ? await firstAcross('openItems', 'asc', limit)
          : await firstAcross('closedItems', 'desc', limit);
      return getMany(ids);
    },
  };
}

export type ItemsRepository = ReturnType<typeof createItemsRepository>;

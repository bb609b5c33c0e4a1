import calculateSlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import {
  CLUSTER_PARTITIONS,
  partitionIndex,
  partitionTagOf,
  partitionTags,
} from '../src/redis-partitions.js';
import {
  broadcastKeyPrefix,
  maySeeRoom,
  parseRoomRecord,
  presenceRoomKey,
  roomKeys,
} from '../src/room-records.js';

describe('room records', () => {
  it('lays out a room under REDIS_PREFIX, in its id’s partition slot in cluster mode', () => {
    expect(roomKeys('gavel:', 'lobby')).toEqual({
      record: 'gavel:room:lobby',
      members: 'gavel:room:lobby:members',
    });
    const tags = partitionTags(CLUSTER_PARTITIONS);
    for (const id of ['lobby', 'item_1', 'a', 'Z-9_z', 'x'.repeat(64)]) {
      const k = roomKeys('gavel:', id, { cluster: true });
      const tag = tags[partitionIndex(id, CLUSTER_PARTITIONS)]!;
      expect(partitionTagOf(id)).toBe(tag);
      expect(k.record).toBe(`gavel:${tag}:room:${id}`);
      // The record, its members and anything else tagged with the partition share one slot.
      const slot = calculateSlot(`gavel:${tag}:outbox`);
      expect(calculateSlot(k.record)).toBe(slot);
      expect(calculateSlot(k.members)).toBe(slot);
    }
  });

  it('names broadcast’s presence hash of a room in the one presence slot', () => {
    const prefix = broadcastKeyPrefix('gavel:');
    expect(prefix).toBe('gavel:broadcast:');
    expect(presenceRoomKey(prefix, 'lobby')).toBe('gavel:broadcast:{presence}:room:lobby');
    expect(calculateSlot(presenceRoomKey(prefix, 'a'))).toBe(calculateSlot(presenceRoomKey(prefix, 'b')));
  });

  it('lets anyone see a public room and only members a private one', () => {
    const priv = parseRoomRecord('r', { private: '1', createdBy: 'ann', createdAt: '5' }, ['ann', 'bob']);
    const pub = parseRoomRecord('p', { private: '0', createdBy: 'ann', createdAt: '5' }, ['stray']);
    expect(parseRoomRecord('n', {}, [])).toBeNull();
    expect(priv).toMatchObject({ id: 'r', private: true, createdBy: 'ann', createdAtMs: 5 });
    expect([...priv!.members]).toEqual(['ann', 'bob']);
    expect(pub!.members.size).toBe(0);
    expect(maySeeRoom(null, null)).toBe(true);
    expect(maySeeRoom(pub, 'cid')).toBe(true);
    expect(maySeeRoom(priv, 'bob')).toBe(true);
    expect(maySeeRoom(priv, 'cid')).toBe(false);
    expect(maySeeRoom(priv, null)).toBe(false);
  });
});

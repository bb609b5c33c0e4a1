import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, makeEvent, subjectOf, subjects } from '../src/events.js';

const topology = { stream: 'GAVEL', prefix: 'gavel' };

describe('events', () => {
  it('round-trips every event type and routes it to its SPEC subject', () => {
    const events = [
      makeEvent('bid.accepted', { itemId: 'i1', seq: 1, userId: 'u1', amountCents: 100 }),
      makeEvent('item.opened', {
        itemId: 'i1',
        title: 'Lamp',
        startingPriceCents: 100,
        minIncrementCents: 10,
        endsAt: new Date().toISOString(),
      }),
      makeEvent('item.extended', { itemId: 'i1', seq: 3, endsAt: new Date().toISOString() }),
      makeEvent('item.closed', { itemId: 'i1', bidCount: 0, winner: null }),
      makeEvent('chat.message', { roomId: 'r1', userId: 'u1', text: 'hi', clientMsgId: 'c1' }),
      makeEvent('dm.message', { from: 'u1', to: 'u2', text: 'hi', clientMsgId: 'c2' }),
      makeEvent('room.created', { roomId: 'r2', private: true, createdBy: 'u1', members: ['u1', 'u2'] }),
      makeEvent('room.member_added', { roomId: 'r2', userId: 'u3', by: 'u1' }),
      makeEvent('room.member_removed', { roomId: 'r2', userId: 'u2', by: 'u2' }),
    ];
    const expected = [
      'gavel.bid.accepted.i1',
      'gavel.item.opened.i1',
      'gavel.item.extended.i1',
      'gavel.item.closed.i1',
      'gavel.chat.r1',
      'gavel.dm.u2',
      'gavel.room.r2',
      'gavel.room.r2',
      'gavel.room.r2',
    ];
    events.forEach((event, i) => {
      expect(decodeEvent(encodeEvent(event))).toEqual({ ok: true, event });
      expect(subjectOf(event, topology)).toBe(expected[i]);
    });
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('refuses bad bytes with a reason instead of throwing', () => {
    expect(decodeEvent('{not json')).toMatchObject({ ok: false, reason: 'not_json' });
    const bad = decodeEvent(JSON.stringify({ id: 'x', v: 1, at: 'yesterday', type: 'bid.accepted' }));
    expect(bad.ok).toBe(false);
    expect(decodeEvent(JSON.stringify({ type: 'nope' })).ok).toBe(false);
  });

  it('keeps dead letters outside the stream subjects', () => {
    const s = subjects(topology);
    expect(s.deadLetter('bad_schema').startsWith('gavel.')).toBe(false);
  });
});

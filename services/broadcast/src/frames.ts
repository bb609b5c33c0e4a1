import {
  formatCents,
  type BidAccepted,
  type ChatMessage,
  type DirectMessage,
  type DirectMessageSent,
  type GavelEvent,
  type ItemClosed,
  type ItemExtended,
  type ItemOpened,
  type ServerEventPayload,
} from '@gavel/shared';
import { Frame } from './connection.js';

/** How each stored event reads to a client: the payloads of the protocol's server events. */

export function bidView(e: BidAccepted): ServerEventPayload<'bid'> {
  return {
    id: e.id,
    itemId: e.itemId,
    seq: e.seq,
    userId: e.userId,
    amountCents: e.amountCents,
    amount: formatCents(e.amountCents),
    at: e.at,
  };
}

export function chatView(e: ChatMessage, cursor: number): ServerEventPayload<'chat'> {
  return {
    id: e.id,
    roomId: e.roomId,
    userId: e.userId,
    ...(e.username === undefined ? {} : { username: e.username }),
    text: e.text,
    clientMsgId: e.clientMsgId,
    at: e.at,
    cursor,
  };
}

export function dmView(e: DirectMessage | DirectMessageSent, cursor: number): ServerEventPayload<'dm'> {
  return {
    id: e.type === 'dm.sent' ? e.dmId : e.id,
    from: e.from,
    to: e.to,
    ...(e.username === undefined ? {} : { username: e.username }),
    text: e.text,
    clientMsgId: e.clientMsgId,
    at: e.at,
    cursor,
  };
}

export function itemFrame(e: ItemOpened | ItemExtended | ItemClosed): Frame {
  switch (e.type) {
    case 'item.opened':
      return new Frame('item:opened', {
        id: e.id,
        itemId: e.itemId,
        title: e.title,
        startingPriceCents: e.startingPriceCents,
        minIncrementCents: e.minIncrementCents,
        endsAt: e.endsAt,
        at: e.at,
      });
    case 'item.extended':
      return new Frame('item:extended', {
        id: e.id,
        itemId: e.itemId,
        seq: e.seq,
        endsAt: e.endsAt,
        at: e.at,
      });
    case 'item.closed':
      return new Frame('item:closed', {
        id: e.id,
        itemId: e.itemId,
        bidCount: e.bidCount,
        winner: e.winner,
        at: e.at,
      });
  }
}

/** The frame of an event of a cursor feed (a room's chat, a user's DMs), or none for other types. */
export function feedFrame(event: GavelEvent, cursor: number): Frame | undefined {
  switch (event.type) {
    case 'chat.message':
      return new Frame('chat', chatView(event, cursor));
    case 'dm.message':
    case 'dm.sent':
      return new Frame('dm', dmView(event, cursor));
    case 'dm.delivered':
      return new Frame('dm:delivered', { id: event.dmId, at: event.at, cursor });
    case 'dm.read':
      return new Frame('dm:read', { id: event.dmId, at: event.at, cursor });
    case 'presence.changed':
      return new Frame('presence', { roomId: event.roomId, userId: event.userId, state: event.state });
    default:
      return undefined;
  }
}

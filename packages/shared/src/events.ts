import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { idSchema, requiredOr } from './ids.js';
import { MAX_ROOM_MEMBERS } from './room-records.js';
import { plainText } from './text.js';

/**
 * The one wire format of Gavel's events. Producers (api, broadcast) and consumers (broadcast,
 * archival, latency) import these schemas and subject builders; nothing else spells a subject.
 */

export const EVENT_VERSION = 1;
export const MAX_TEXT_LENGTH = 2000;
/** Longest display name (`username`) a client may give. */
export const MAX_DISPLAY_NAME_LENGTH = 64;

/** Chat and DM text: 1-2000 characters, not blank, no control characters but tab and newline. */
export const messageTextSchema = plainText(
  z
    .string({ error: requiredOr('must be a string') })
    .min(1, { error: 'must not be empty' })
    .max(MAX_TEXT_LENGTH, { error: `must be at most ${MAX_TEXT_LENGTH} characters` })
    .refine((t) => t.trim().length > 0, { error: 'must not be blank' }),
  { multiline: true },
);

/** A display name: 1-64 characters, not blank, no control characters. */
export const displayNameSchema = plainText(
  z
    .string({ error: requiredOr('must be a string') })
    .min(1, { error: 'must not be empty' })
    .max(MAX_DISPLAY_NAME_LENGTH, { error: `must be at most ${MAX_DISPLAY_NAME_LENGTH} characters` })
    .refine((t) => t.trim().length > 0, { error: 'must not be blank' }),
);

const iso = z.iso.datetime({ offset: true });
const cents = z.number().int().positive();

const base = {
  id: z.string().min(1).max(128),
  v: z.literal(EVENT_VERSION),
  at: iso,
};

export const bidAcceptedSchema = z.object({
  ...base,
  type: z.literal('bid.accepted'),
  itemId: idSchema,
  seq: z.number().int().positive(),
  userId: idSchema,
  amountCents: cents,
});

export const itemOpenedSchema = z.object({
  ...base,
  type: z.literal('item.opened'),
  itemId: idSchema,
  title: z.string().min(1).max(200),
  startingPriceCents: cents,
  minIncrementCents: cents,
  endsAt: iso,
});

export const itemExtendedSchema = z.object({
  ...base,
  type: z.literal('item.extended'),
  itemId: idSchema,
  /** The bid whose arrival inside the extension window caused the extension. */
  seq: z.number().int().positive(),
  endsAt: iso,
});

export const itemClosedSchema = z.object({
  ...base,
  type: z.literal('item.closed'),
  itemId: idSchema,
  bidCount: z.number().int().nonnegative(),
  winner: z.object({ userId: idSchema, amountCents: cents, seq: z.number().int().positive() }).nullable(),
});

export const chatMessageSchema = z.object({
  ...base,
  type: z.literal('chat.message'),
  roomId: idSchema,
  userId: idSchema,
  text: z.string().min(1).max(MAX_TEXT_LENGTH),
  clientMsgId: z.string().min(1).max(128),
  /** The sender's display name, when its client gave one. */
  username: displayNameSchema.optional(),
});

const dmFields = {
  from: idSchema,
  to: idSchema,
  text: z.string().min(1).max(MAX_TEXT_LENGTH),
  clientMsgId: z.string().min(1).max(128),
  username: displayNameSchema.optional(),
};

/** A direct message, on the recipient's subject `dm.<to>`. */
export const directMessageSchema = z.object({ ...base, type: z.literal('dm.message'), ...dmFields });

/**
 * The sender's copy of a direct message, on the sender's subject `dm.<from>`, so that the
 * sender's other devices show it too. `dmId` is the message's id; `at` is the message's time.
 */
export const directMessageSentSchema = z.object({
  ...base,
  type: z.literal('dm.sent'),
  dmId: z.string().min(1).max(128),
  ...dmFields,
});

/** A direct message reached one of its recipient's devices (once per message), on `dm.<from>`. */
export const directMessageDeliveredSchema = z.object({
  ...base,
  type: z.literal('dm.delivered'),
  dmId: z.string().min(1).max(128),
  from: idSchema,
  to: idSchema,
});

/** The recipient marked a direct message read (once per message), on `dm.<from>`. */
export const directMessageReadSchema = z.object({
  ...base,
  type: z.literal('dm.read'),
  dmId: z.string().min(1).max(128),
  from: idSchema,
  to: idSchema,
});

/** A user joined or left a chat room (on no replica before / on none any more), on `presence.<room>`. */
export const presenceChangedSchema = z.object({
  ...base,
  type: z.literal('presence.changed'),
  roomId: idSchema,
  userId: idSchema,
  state: z.enum(['join', 'leave']),
});

/**
 * A direct message went to a user with no live connection, on `notify.<to>`: the hook for a push
 * provider. It carries a short preview, not the whole text.
 */
export const notifyDirectMessageSchema = z.object({
  ...base,
  type: z.literal('notify.dm'),
  dmId: z.string().min(1).max(128),
  from: idSchema,
  to: idSchema,
  preview: z.string().max(140),
});

/**
 * A room was created (POST /api/v1/rooms), on `room.<roomId>`: private with its first members, or
 * public with its id reserved. Broadcast takes anyone who is not a member out of a private one.
 */
export const roomCreatedSchema = z.object({
  ...base,
  type: z.literal('room.created'),
  roomId: idSchema,
  private: z.boolean(),
  createdBy: idSchema,
  /** Every member, the creator included (empty for a public room). */
  members: z.array(idSchema).max(MAX_ROOM_MEMBERS),
});

/** A member `by` added `userId` to a private room, on `room.<roomId>`. */
export const roomMemberAddedSchema = z.object({
  ...base,
  type: z.literal('room.member_added'),
  roomId: idSchema,
  userId: idSchema,
  by: idSchema,
});

/**
 * A member `by` removed `userId` (themself, when they left) from a private room, on
 * `room.<roomId>`. Broadcast takes the user's connections out of the room at once.
 */
export const roomMemberRemovedSchema = z.object({
  ...base,
  type: z.literal('room.member_removed'),
  roomId: idSchema,
  userId: idSchema,
  by: idSchema,
});

/** Longest `notify.dm` preview. */
export const NOTIFY_PREVIEW_LENGTH = 140;

export const gavelEventSchema = z.discriminatedUnion('type', [
  bidAcceptedSchema,
  itemOpenedSchema,
  itemExtendedSchema,
  itemClosedSchema,
  chatMessageSchema,
  directMessageSchema,
  directMessageSentSchema,
  directMessageDeliveredSchema,
  directMessageReadSchema,
  presenceChangedSchema,
  notifyDirectMessageSchema,
  roomCreatedSchema,
  roomMemberAddedSchema,
  roomMemberRemovedSchema,
]);

export type BidAccepted = z.infer<typeof bidAcceptedSchema>;
export type ItemOpened = z.infer<typeof itemOpenedSchema>;
export type ItemExtended = z.infer<typeof itemExtendedSchema>;
export type ItemClosed = z.infer<typeof itemClosedSchema>;
export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type DirectMessage = z.infer<typeof directMessageSchema>;
export type DirectMessageSent = z.infer<typeof directMessageSentSchema>;
export type DirectMessageDelivered = z.infer<typeof directMessageDeliveredSchema>;
export type DirectMessageRead = z.infer<typeof directMessageReadSchema>;
export type PresenceChanged = z.infer<typeof presenceChangedSchema>;
export type NotifyDirectMessage = z.infer<typeof notifyDirectMessageSchema>;
export type RoomCreated = z.infer<typeof roomCreatedSchema>;
export type RoomMemberAdded = z.infer<typeof roomMemberAddedSchema>;
export type RoomMemberRemoved = z.infer<typeof roomMemberRemovedSchema>;
/** The events that change who may see a room. */
export type RoomAccessEvent = RoomCreated | RoomMemberAdded | RoomMemberRemoved;
export type GavelEvent = z.infer<typeof gavelEventSchema>;
export type GavelEventType = GavelEvent['type'];

type Payload<E extends GavelEvent> = Omit<E, 'id' | 'v' | 'at' | 'type'>;

/** Builds an event with a fresh unique id (also its Nats-Msg-Id) and the current time. */
export function makeEvent<T extends GavelEventType>(
  type: T,
  payload: Payload<Extract<GavelEvent, { type: T }>>,
  options: { id?: string; at?: Date } = {},
): Extract<GavelEvent, { type: T }> {
  return {
    id: options.id ?? randomUUID(),
    v: EVENT_VERSION,
    at: (options.at ?? new Date()).toISOString(),
    type,
    ...payload,
  } as Extract<GavelEvent, { type: T }>;
}

/**
 * Where events live. Production uses stream GAVEL and subjects gavel.>; tests give each run its
 * own stream and prefix so that they can run in parallel against one nats-server.
 */
export interface Topology {
  /** JetStream stream holding every event. @default "GAVEL" */
  readonly stream: string;
  /** First subject token. @default "gavel" */
  readonly prefix: string;
  /** JetStream replicas of the streams: 3 on a 3-node cluster, so a node loss loses no event. @default 1 */
  readonly replicas?: number;
}

export function subjects(topology: Topology) {
  const p = topology.prefix;
  return {
    /** Every event of the stream. */
    all: `${p}.>`,
    bidAccepted: (itemId: string) => `${p}.bid.accepted.${itemId}`,
    allBidsAccepted: `${p}.bid.accepted.>`,
    itemOpened: (itemId: string) => `${p}.item.opened.${itemId}`,
    itemExtended: (itemId: string) => `${p}.item.extended.${itemId}`,
    itemClosed: (itemId: string) => `${p}.item.closed.${itemId}`,
    /** All item lifecycle events (opened, extended, closed) of one item. */
    itemEvents: (itemId: string) => `${p}.item.*.${itemId}`,
    allItemEvents: `${p}.item.>`,
    chat: (roomId: string) => `${p}.chat.${roomId}`,
    allChat: `${p}.chat.>`,
    /** A user's DM feed: messages to them, and copies and receipts of the messages they sent. */
    dm: (userId: string) => `${p}.dm.${userId}`,
    allDm: `${p}.dm.>`,
    presence: (roomId: string) => `${p}.presence.${roomId}`,
    /** Who may see a room: its creation and its members' comings and goings (RoomAccessEvent). */
    roomAccess: (roomId: string) => `${p}.room.${roomId}`,
    allRoomAccess: `${p}.room.>`,
    notify: (userId: string) => `${p}.notify.${userId}`,
    allNotify: `${p}.notify.>`,
    /**
     * The stream republishes every stored event from `<p>.<rest>` to `<p>_live.<rest>` (core NATS,
     * with its stream sequence in headers): what broadcast replicas subscribe to, per subject.
     */
    live: (subject: string) => `${p}_live.${subject.slice(p.length + 1)}`,
    allLive: `${p}_live.>`,
    /** Dead letters live outside `${p}.>` so that a consumer of the stream never sees them. */
    deadLetter: (reason: string) => `${p}_dlq.${reason}`,
    allDeadLetters: `${p}_dlq.>`,
    deadLetterStream: `${topology.stream}_DLQ`,
  };
}

/** The subject an event is published on. */
export function subjectOf(event: GavelEvent, topology: Topology): string {
  const s = subjects(topology);
  switch (event.type) {
    case 'bid.accepted':
      return s.bidAccepted(event.itemId);
    case 'item.opened':
      return s.itemOpened(event.itemId);
    case 'item.extended':
      return s.itemExtended(event.itemId);
    case 'item.closed':
      return s.itemClosed(event.itemId);
    case 'chat.message':
      return s.chat(event.roomId);
    case 'dm.message':
      return s.dm(event.to);
    case 'dm.sent':
    case 'dm.delivered':
    case 'dm.read':
      return s.dm(event.from);
    case 'presence.changed':
      return s.presence(event.roomId);
    case 'notify.dm':
      return s.notify(event.to);
    case 'room.created':
    case 'room.member_added':
    case 'room.member_removed':
      return s.roomAccess(event.roomId);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEvent(event: GavelEvent): Uint8Array {
  return encoder.encode(JSON.stringify(event));
}

export type DecodeResult = { ok: true; event: GavelEvent } | { ok: false; reason: string };

/** Parses and validates bytes off the wire; never throws. */
export function decodeEvent(data: Uint8Array | string): DecodeResult {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : decoder.decode(data));
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  const parsed = gavelEventSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, reason: `invalid_event: ${z.prettifyError(parsed.error).slice(0, 500)}` };
  }
  return { ok: true, event: parsed.data };
}

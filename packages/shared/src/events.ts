import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { idSchema } from './ids.js';

/**
 * The one wire format of Gavel's events. Producers (api, broadcast) and consumers (broadcast,
 * archival, latency) import these schemas and subject builders; nothing else spells a subject.
 */

export const EVENT_VERSION = 1;
export const MAX_TEXT_LENGTH = 2000;

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
});

export const directMessageSchema = z.object({
  ...base,
  type: z.literal('dm.message'),
  from: idSchema,
  to: idSchema,
  text: z.string().min(1).max(MAX_TEXT_LENGTH),
  clientMsgId: z.string().min(1).max(128),
});

export const gavelEventSchema = z.discriminatedUnion('type', [
  bidAcceptedSchema,
  itemOpenedSchema,
  itemExtendedSchema,
  itemClosedSchema,
  chatMessageSchema,
  directMessageSchema,
]);

export type BidAccepted = z.infer<typeof bidAcceptedSchema>;
export type ItemOpened = z.infer<typeof itemOpenedSchema>;
export type ItemExtended = z.infer<typeof itemExtendedSchema>;
export type ItemClosed = z.infer<typeof itemClosedSchema>;
export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type DirectMessage = z.infer<typeof directMessageSchema>;
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
    dm: (userId: string) => `${p}.dm.${userId}`,
    allDm: `${p}.dm.>`,
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

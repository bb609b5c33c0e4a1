import { z } from 'zod';
import { displayNameSchema, messageTextSchema } from './events.js';
import { ID_PATTERN, requiredOr } from './ids.js';

/**
 * The client protocol of the broadcast gateway, declared once: Socket.IO events (client →
 * server with their acks, server → client) and the plain-WebSocket (`/ws`) frames of seed 003,
 * which carry the same payloads. The server validates with these schemas, clients import their
 * types, docs/asyncapi.yaml is generated from them (scripts/asyncapi.ts) and a test keeps the two
 * in step.
 */

/** Largest frame a client may send, either transport. */
export const MAX_FRAME_BYTES = 16 * 1024;

/** Most chat messages replayed by one room:join afterCursor (the newest ones; the ack says so). */
export const MAX_CHAT_REPLAY = 500;

// ---- field schemas ------------------------------------------------------------------------------

const ID_RULE = 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -';
const id = z.string({ error: requiredOr(ID_RULE) }).regex(ID_PATTERN, { error: ID_RULE });

const CLIENT_MSG_ID_RULE = 'must be 1-128 characters of A-Z a-z 0-9 _ . : -';
/** A client's own message id: a retried send with the same one is stored and delivered once. */
export const clientMsgIdSchema = z
  .string({ error: requiredOr(CLIENT_MSG_ID_RULE) })
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, { error: CLIENT_MSG_ID_RULE });

const SEQ_RULE = 'must be a whole number ≥ 0 (the `seq` of the last bid you have)';
const afterSeq = z
  .number({ error: requiredOr(SEQ_RULE) })
  .int({ error: SEQ_RULE })
  .min(0, { error: SEQ_RULE })
  .max(Number.MAX_SAFE_INTEGER, { error: SEQ_RULE });

const CURSOR_RULE = 'must be a chat cursor: a whole number ≥ 0 (the `cursor` of a chat message)';
const cursor = z
  .number({ error: requiredOr(CURSOR_RULE) })
  .int({ error: CURSOR_RULE })
  .min(0, { error: CURSOR_RULE })
  .max(Number.MAX_SAFE_INTEGER, { error: CURSOR_RULE });

const DM_ID_RULE = 'must be the id of a direct message';
const dmId = z
  .string({ error: requiredOr(DM_ID_RULE) })
  .regex(/^dm_[A-Za-z0-9_-]{1,64}$/, { error: DM_ID_RULE });

const iso = z.string().describe('ISO 8601 timestamp');
const int = z.number().int();

// ---- server → client payloads -------------------------------------------------------------------

export const bidPayload = z.object({
  id: z.string(),
  itemId: z.string(),
  /** Per-item sequence: 1, 2, 3, … with no gap; every watcher gets each once, in order. */
  seq: int,
  userId: z.string(),
  amountCents: int,
  /** amountCents as a decimal string, for display. */
  amount: z.string(),
  at: iso,
});

export const itemOpenedPayload = z.object({
  id: z.string(),
  itemId: z.string(),
  title: z.string(),
  startingPriceCents: int,
  minIncrementCents: int,
  endsAt: iso,
  at: iso,
});

export const itemExtendedPayload = z.object({
  id: z.string(),
  itemId: z.string(),
  /** The bid that extended the auction. */
  seq: int,
  endsAt: iso,
  at: iso,
});

export const itemClosedPayload = z.object({
  id: z.string(),
  itemId: z.string(),
  bidCount: int,
  winner: z.object({ userId: z.string(), amountCents: int, seq: int }).nullable(),
  at: iso,
});

export const chatPayload = z.object({
  id: z.string(),
  roomId: z.string(),
  userId: z.string(),
  username: z.string().optional(),
  text: z.string(),
  clientMsgId: z.string(),
  at: iso,
  /** Stream sequence of the message: increasing within a room; resume with afterCursor. */
  cursor: int,
});

export const dmPayload = z.object({
  id: z.string(),
  from: z.string(),
  to: z.string(),
  username: z.string().optional(),
  text: z.string(),
  clientMsgId: z.string(),
  at: iso,
  /** Position in the user's DM feed (increasing); a device resumes after the last one it got. */
  cursor: int,
});

export const dmReceiptPayload = z.object({
  id: z.string(),
  at: iso,
  /** Position in the user's DM feed, as on `dm`: a device resumes after the last one it got. */
  cursor: int,
});

export const presencePayload = z.object({
  roomId: z.string(),
  userId: z.string(),
  state: z.enum(['join', 'leave']),
});

export const sessionPayload = z.object({
  userId: z.string(),
  username: z.string().optional(),
  deviceId: z.string(),
  replicaId: z.string(),
  color: z.string().nullable(),
  /** Always false: resume is by afterSeq / afterCursor / the device's DM position, on any replica. */
  recovered: z.boolean(),
});

export const drainingPayload = z.object({
  /** Reconnect after this long (random jitter), then resume as on any reconnect. */
  reconnectInMs: int,
});

/** Socket.IO only (`/ws` gets an error frame `token_expired` and close code 4001 instead). */
export const sessionExpiredPayload = z.object({
  code: z.literal('token_expired'),
  message: z.string(),
});

/**
 * Socket.IO only (`/ws` gets `{"type":"room_removed","room"}` instead, in seed 003's field name):
 * this connection was taken out of a private room because its user is no longer a member. Nothing
 * more of the room reaches it; joining again is refused with `forbidden`.
 */
export const roomRemovedPayload = z.object({ roomId: z.string() });

/** Server → client events (Socket.IO event names; the `type` of `/ws` frames). */
export const serverEvents = {
  session: sessionPayload,
  bid: bidPayload,
  'item:opened': itemOpenedPayload,
  'item:extended': itemExtendedPayload,
  'item:closed': itemClosedPayload,
  chat: chatPayload,
  dm: dmPayload,
  'dm:delivered': dmReceiptPayload,
  'dm:read': dmReceiptPayload,
  presence: presencePayload,
  'server:draining': drainingPayload,
  /** The connection's token expired: the server disconnects right after this. */
  'session:expired': sessionExpiredPayload,
  'room:removed': roomRemovedPayload,
} as const;

export type ServerEventName = keyof typeof serverEvents;
export type ServerEventPayload<E extends ServerEventName> = z.output<(typeof serverEvents)[E]>;

// ---- client → server commands -------------------------------------------------------------------

/** Stable error codes of refused commands (acks and `/ws` error frames). */
export const errorCodes = {
  not_json: 'a /ws frame that is not JSON',
  invalid_frame: 'a /ws frame that is not a JSON object (or is binary)',
  unknown_event: 'an event or frame type the server does not know',
  invalid_payload: 'a field is missing, of the wrong type or out of range (the message names it)',
  rate_limited: 'too many events or messages from this connection: slow down',
  too_many_rooms: 'the per-connection cap on rooms plus watched items is reached',
  not_in_room: 'chat to a room this connection has not joined',
  no_room: 'chat without a room, and no room joined yet',
  not_found: 'no such direct message addressed to you',
  conflict: 'the clientMsgId was already used for another kind of message',
  unavailable: 'a dependency is unavailable: retry later',
  unauthorized: 'the token sent is not valid (the connection keeps its current one)',
  forbidden: 'not allowed: a private room you are not a member of, or a token for another user',
  token_expired: "the connection's token expired: sign in again and reconnect",
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** A refused command: `error` and `code` are the same stable code, `message` is for humans. */
export const ackErrorSchema = z.object({
  ok: z.literal(false),
  error: z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]),
  code: z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
});
export type AckError = z.output<typeof ackErrorSchema>;

const roomSummary = z.object({ roomId: z.string(), members: int });

const TOKEN_RULE = 'must be a token of at most 4096 characters';
const tokenSchema = z.string({ error: requiredOr(TOKEN_RULE) }).max(4096, { error: TOKEN_RULE });

/**
 * Client → server commands: each with its payload (validated; unknown fields ignored) and the
 * result its ack carries besides `ok: true`.
 */
export const clientCommands = {
  'item:watch': {
    payload: z.object({ itemId: id, afterSeq: afterSeq.optional() }),
    result: z.object({ itemId: z.string(), lastSeq: int }),
  },
  'item:unwatch': {
    payload: z.object({ itemId: id }),
    result: z.object({ itemId: z.string() }),
  },
  'room:join': {
    payload: z.object({ roomId: id, afterCursor: cursor.optional() }),
    result: z.object({
      roomId: z.string(),
      /** A safe afterCursor for the next join: everything after it reaches you live. */
      cursor: int.optional(),
      /** With afterCursor: how many stored messages were sent before this ack. */
      replayed: int.optional(),
      /** With afterCursor: older messages were left out (read them from the history route). */
      truncated: z.boolean().optional(),
    }),
  },
  'room:leave': {
    payload: z.object({ roomId: id }),
    result: z.object({ roomId: z.string() }),
  },
  'chat:send': {
    payload: z.object({
      /** Default: the room this connection joined last. */
      roomId: id.optional(),
      text: messageTextSchema,
      clientMsgId: clientMsgIdSchema.optional(),
    }),
    result: z.object({ id: z.string(), roomId: z.string(), at: iso, cursor: int }),
  },
  'dm:send': {
    payload: z.object({ to: id, text: messageTextSchema, clientMsgId: clientMsgIdSchema.optional() }),
    result: z.object({ id: z.string(), at: iso }),
  },
  'dm:read': {
    payload: z.object({ id: dmId }),
    result: z.object({ id: z.string(), at: iso }),
  },
  'rooms:list': {
    payload: z.object({}).optional(),
    result: z.object({ rooms: z.array(roomSummary) }),
  },
  'presence:get': {
    payload: z.object({ roomId: id }),
    result: z.object({ roomId: z.string(), users: z.array(z.string()) }),
  },
  /**
   * A fresh token for this connection, sent before the current one expires; its subject must be
   * the connection's user. Refused: the connection keeps its current token (and its end).
   */
  'auth:refresh': {
    payload: z.object({ token: tokenSchema.min(1, { error: TOKEN_RULE }) }),
    result: z.object({ userId: z.string(), expiresAt: iso }),
  },
} as const;

export type CommandName = keyof typeof clientCommands;
export type CommandPayload<K extends CommandName> = z.output<(typeof clientCommands)[K]['payload']>;
export type CommandInput<K extends CommandName> = z.input<(typeof clientCommands)[K]['payload']>;
export type CommandResult<K extends CommandName> = z.output<(typeof clientCommands)[K]['result']>;
export type AckOf<K extends CommandName> = ({ ok: true } & CommandResult<K>) | AckError;

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.hasOwn(clientCommands, name);
}

/** Socket.IO's typed event maps: a typo in an event name or payload fails to compile. */
export type ClientToServerEvents = {
  [K in CommandName]: (payload: CommandInput<K>, ack: (answer: AckOf<K>) => void) => void;
};
export type ServerToClientEvents = {
  [E in ServerEventName]: (payload: ServerEventPayload<E>) => void;
};

/** Socket.IO handshake `auth`. */
const token = tokenSchema;

export const socketAuthSchema = z.object({
  token: token.optional(),
  /** open mode only: who you are. */
  userId: id.optional(),
  username: displayNameSchema.optional(),
  /** Names this device, so that it catches up on DMs from where it was. @default "default" */
  deviceId: id.optional(),
  /**
   * The `cursor` of the newest event of your DM feed you have. Given, the catch-up starts after it
   * rather than at the position the server kept for the device, which a crash of a replica can
   * leave a few milliseconds behind (so the last DMs would come again).
   */
  dmAfterCursor: cursor.optional(),
});
export type SocketAuth = z.input<typeof socketAuthSchema>;

// ---- /ws frames (seed 003's field names) --------------------------------------------------------

const REQ_ID_RULE = 'must be a string of at most 128 characters, or a number';
const reqId = z
  .union([z.string().max(128, { error: REQ_ID_RULE }), z.number()], { error: REQ_ID_RULE })
  .optional();

/** `/ws` query string: `?token=…&roomId=R&userId=…&username=…&deviceId=…`. */
export const wsQuerySchema = z.object({
  token: token.optional(),
  /** Must be the token's subject when a token is given (open mode: who you are). */
  userId: id.optional(),
  username: displayNameSchema.optional(),
  /** Joined at connect, and the current room. */
  roomId: id.optional(),
  deviceId: id.optional(),
  /** As in the Socket.IO handshake: the `cursor` of the newest DM feed event you have. */
  dmAfterCursor: z
    .string()
    .regex(/^\d{1,15}$/, { error: CURSOR_RULE })
    .transform(Number)
    .optional(),
});

/**
 * `/ws` frames in, each mapped to its command. `reqId` (string or number) is echoed in the answer.
 * `chat` without `room` goes to the current room (the one joined last).
 */
export const wsFrames = {
  watch: {
    command: 'item:watch',
    frame: z.object({ itemId: id, afterSeq: afterSeq.optional(), reqId }),
    toPayload: (f: { itemId: string; afterSeq?: number | undefined }) => ({
      itemId: f.itemId,
      afterSeq: f.afterSeq,
    }),
  },
  unwatch: {
    command: 'item:unwatch',
    frame: z.object({ itemId: id, reqId }),
    toPayload: (f: { itemId: string }) => ({ itemId: f.itemId }),
  },
  join: {
    command: 'room:join',
    frame: z.object({ room: id, after: cursor.optional(), reqId }),
    toPayload: (f: { room: string; after?: number | undefined }) => ({
      roomId: f.room,
      afterCursor: f.after,
    }),
  },
  leave: {
    command: 'room:leave',
    frame: z.object({ room: id, reqId }),
    toPayload: (f: { room: string }) => ({ roomId: f.room }),
  },
  chat: {
    command: 'chat:send',
    frame: z.object({
      room: id.optional(),
      message: messageTextSchema,
      clientMsgId: clientMsgIdSchema.optional(),
      reqId,
    }),
    toPayload: (f: { room?: string | undefined; message: string; clientMsgId?: string | undefined }) => ({
      roomId: f.room,
      text: f.message,
      clientMsgId: f.clientMsgId,
    }),
  },
  private: {
    command: 'dm:send',
    frame: z.object({ to: id, message: messageTextSchema, clientMsgId: clientMsgIdSchema.optional(), reqId }),
    toPayload: (f: { to: string; message: string; clientMsgId?: string | undefined }) => ({
      to: f.to,
      text: f.message,
      clientMsgId: f.clientMsgId,
    }),
  },
  read: {
    command: 'dm:read',
    frame: z.object({ id: dmId, reqId }),
    toPayload: (f: { id: string }) => ({ id: f.id }),
  },
  rooms: {
    command: 'rooms:list',
    frame: z.object({ reqId }),
    toPayload: () => ({}),
  },
  presence: {
    command: 'presence:get',
    frame: z.object({ room: id, reqId }),
    toPayload: (f: { room: string }) => ({ roomId: f.room }),
  },
  auth: {
    command: 'auth:refresh',
    frame: z.object({ token: tokenSchema.min(1, { error: TOKEN_RULE }), reqId }),
    toPayload: (f: { token: string }) => ({ token: f.token }),
  },
} as const;

export type WsFrameType = keyof typeof wsFrames;

export function isWsFrameType(type: unknown): type is WsFrameType {
  return typeof type === 'string' && Object.hasOwn(wsFrames, type);
}

/** `/ws` frames out besides the server events (which go out as `{type: <event>, ...payload}`). */
export const wsReplyFrames = {
  welcome: sessionPayload.extend({ room: z.string().optional() }),
  /** The answer to a frame: its result, with `for` the frame's type and its `reqId`. */
  ack: z.looseObject({ for: z.string(), reqId: reqId }),
  /** The answer to `rooms`. */
  rooms: z.object({ rooms: z.array(roomSummary), reqId }),
  /** Unasked: taken out of a private room (Socket.IO's `room:removed`). */
  room_removed: z.object({ room: z.string() }),
  error: z.object({
    code: z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    for: z.string().nullable().optional(),
    reqId,
  }),
} as const;

// ---- validation messages ------------------------------------------------------------------------

/**
 * One readable sentence for a refused payload, naming the field as the client spelled it
 * (`room`, `message` on /ws; `roomId`, `text` on Socket.IO): never a validator dump.
 */
export function describeProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid payload';
  const field = issue.path.map(String).join('.');
  if (!field) {
    return issue.code === 'invalid_type' ? 'the payload must be a JSON object' : issue.message;
  }
  return `"${field}" ${issue.message}`;
}

/** Parses a command payload (Socket.IO field names). */
export function parseCommand<K extends CommandName>(
  name: K,
  payload: unknown,
): { ok: true; value: CommandPayload<K> } | { ok: false; message: string } {
  const parsed = clientCommands[name].payload.safeParse(payload);
  if (parsed.success) return { ok: true, value: parsed.data as CommandPayload<K> };
  return { ok: false, message: describeProblem(parsed.error) };
}

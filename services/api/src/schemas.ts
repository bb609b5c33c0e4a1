import type { FastifySchema } from 'fastify';
import { z } from 'zod';
import {
  MAX_ROOM_MEMBERS,
  formatCents,
  idSchema,
  parseAmount,
  plainText,
  type RoomRecord,
} from '@gavel/shared';
import type { ItemState } from './bid-strategies/rules.js';

/**
 * Request and response shapes of the HTTP API. Amounts go out twice: `amount` as a decimal
 * string in major units ("12.50", exact, the form a client may send back) and `amountCents` as
 * an integer; timestamps are ISO 8601 strings.
 */

/** Money in: a JSON number or a decimal string, at most 2 decimals, > 0, capped; out: cents. */
export const amountInput = z
  .unknown()
  .transform((value, ctx) => {
    const parsed = parseAmount(value);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.reason });
      return z.NEVER;
    }
    return parsed.cents;
  })
  // parseAmount decides, so the documented shape is written out here.
  .meta({
    description: 'an amount in major units, greater than 0, at most 2 decimals: 12.5 or "12.50"',
    anyOf: [
      { type: 'number', exclusiveMinimum: 0 },
      { type: 'string', pattern: '^\\d{1,12}(\\.\\d{1,2})?$' },
    ],
  });

function toInstant(value: number | string, ctx: z.RefinementCtx): number {
  let ms: number;
  if (typeof value === 'number' || /^\d{1,15}$/.test(value)) ms = Number(value);
  else if (z.iso.datetime({ offset: true }).safeParse(value).success) ms = Date.parse(value);
  else ms = Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > 8_640_000_000_000_000) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO 8601 timestamp with offset or epoch milliseconds',
    });
    return z.NEVER;
  }
  return ms;
}

/** A timestamp in: ISO 8601 with offset, or epoch milliseconds (number or digit string). */
export const instantInput = z
  .union([z.number(), z.string()])
  .transform(toInstant)
  .meta({ description: 'ISO 8601 with an offset (2030-01-01T12:00:00Z) or epoch milliseconds' });
const instantQuery = z
  .string()
  .max(64)
  .transform(toInstant)
  .meta({ description: 'ISO 8601 with an offset, or epoch milliseconds' });

export const idParams = z.object({ id: idSchema }).strict();

export const createItemBody = z
  .object({
    id: idSchema.optional(),
    title: plainText(z.string().trim().min(1).max(200)),
    startingPrice: amountInput,
    minIncrement: amountInput,
    endsAt: instantInput,
  })
  .strict();

/** Seed 004 sends `user_id`; our clients send `userId`. Both are accepted, never both different. */
export const bidBody = z
  .object({
    user_id: idSchema.optional(),
    userId: idSchema.optional(),
    amount: amountInput,
  })
  .strict()
  .refine((b) => !(b.user_id && b.userId && b.user_id !== b.userId), {
    message: 'user_id and userId differ',
    path: ['userId'],
  });

const limit = (max: number, dflt: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .default(dflt);

export const listItemsQuery = z
  .object({ status: z.enum(['open', 'closed']).default('open'), limit: limit(200, 50) })
  .strict();

export const bidsQuery = z
  .object({
    after: z
      .string()
      .regex(/^\d{1,10}$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().int().min(0).max(2_147_483_647))
      .default(0),
    limit: limit(1000, 100),
  })
  .strict();

export const messagesQuery = z.object({ before: instantQuery.optional(), limit: limit(200, 50) }).strict();

/** `GET /api/v1/dms`: the caller's conversation `with` one user, newest first. */
export const dmsQuery = z
  .object({ with: idSchema, before: instantQuery.optional(), limit: limit(200, 50) })
  .strict();

export const devTokenBody = z.object({ userId: idSchema }).strict();

/** `POST /api/v1/rooms`: a private room with its first members, or a public one (its id reserved). */
export const createRoomBody = z
  .object({
    id: idSchema,
    private: z.boolean().meta({ description: 'true: members only; false: public, the id reserved' }),
    members: z
      .array(idSchema)
      .max(MAX_ROOM_MEMBERS)
      .optional()
      .meta({ description: 'user ids besides the creator, who is always a member of a private room' }),
  })
  .strict()
  .refine((b) => b.private || (b.members ?? []).length === 0, {
    message: 'a public room has no member list',
    path: ['members'],
  });

export const roomMemberBody = z.object({ userId: idSchema }).strict();

export const roomMemberParams = z.object({ id: idSchema, userId: idSchema }).strict();

export const idempotencyKeyHeader = z
  .string()
  .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 visible ASCII characters');

const amountOut = { amount: z.string(), amountCents: z.number().int() };
const iso = z.iso.datetime({ offset: true });

export const itemResponse = z
  .object({
    id: idSchema,
    title: z.string(),
    status: z.enum(['open', 'closed']),
    startingPrice: z.string(),
    startingPriceCents: z.number().int(),
    minIncrement: z.string(),
    minIncrementCents: z.number().int(),
    highestBid: z.object({ ...amountOut, userId: idSchema, seq: z.number().int(), at: iso }).nullable(),
    bidCount: z.number().int(),
    endsAt: iso,
    openedAt: iso,
    closedAt: iso.nullable(),
  })
  .meta({ description: 'The item: its rules, highest bid, bid count and end' });

export const bidResponse = z
  .object({
    itemId: idSchema,
    seq: z.number().int().positive(),
    ...amountOut,
    userId: idSchema,
    at: iso,
    endsAt: iso,
    extended: z.boolean(),
  })
  .meta({ description: 'Accepted: the bid, its seq, and the (maybe extended) end of the auction' });

export const bidHistoryResponse = z
  .object({
    itemId: idSchema,
    bids: z.array(z.object({ seq: z.number().int(), userId: z.string(), ...amountOut, at: iso })),
    /** Pass as `after` to read the next page; null when this page was the last. */
    nextAfter: z.number().int().nullable(),
  })
  .meta({ description: 'A page of bids, oldest first' });

export const messagesResponse = z
  .object({
    roomId: idSchema,
    messages: z.array(
      z.object({
        id: z.string(),
        roomId: z.string(),
        userId: z.string(),
        text: z.string(),
        clientMsgId: z.string(),
        at: iso,
      }),
    ),
    /** Pass as `before` to read older messages; null when there are none. */
    nextBefore: iso.nullable(),
  })
  .meta({ description: 'A page of messages, newest first' });

export const dmsResponse = z
  .object({
    with: idSchema,
    messages: z.array(
      z.object({
        id: z.string(),
        from: z.string(),
        to: z.string(),
        text: z.string(),
        clientMsgId: z.string(),
        at: iso,
      }),
    ),
    /** Pass as `before` to read older messages; null when there are none. */
    nextBefore: iso.nullable(),
  })
  .meta({ description: 'A page of the conversation, newest first' });

export const roomResponse = z
  .object({
    id: idSchema,
    private: z.boolean(),
    createdBy: idSchema,
    createdAt: iso,
    /** Sorted; empty for a public room. */
    members: z.array(idSchema),
  })
  .meta({ description: 'A created room: private with its members, or public' });

export const errorResponse = z
  .object({
    error: z.string().meta({ description: 'a stable machine-readable code, e.g. bid_too_low' }),
    message: z.string().meta({ description: 'a sentence for people, naming the field or the reason' }),
  })
  .loose()
  .meta({ description: 'Every error body: a code and a message, sometimes more fields' });

/**
 * The error body of one status of one route, with the codes it can carry (for the docs: replies
 * are not checked against it at run time).
 */
export function errorOf(
  codes: readonly [string, ...string[]],
  description: string,
  extra: z.ZodRawShape = {},
) {
  return errorResponse
    .extend({ error: z.enum(codes), ...extra })
    .meta({ description: `${description} (error: ${codes.join(', ')})` });
}

/** Errors any route can answer: a dependency down, a bug. */
export const serverErrors = {
  500: errorOf(['internal_error'], 'A bug: nothing was applied'),
  503: errorOf(['dependency_unavailable'], 'Redis or PostgreSQL is unavailable: retry shortly (Retry-After)'),
} as const;

/** Errors of any route that takes a body: oversized or not JSON. */
export const bodyErrors = {
  413: errorOf(['payload_too_large'], 'The body is larger than BODY_LIMIT_BYTES'),
  415: errorOf(['unsupported_media_type'], 'A body that is not application/json'),
} as const;

/** 400 for input that fails the route's schema (or the rules after it). */
export const invalidRequest = errorOf(
  ['invalid_request', 'invalid_json', 'bad_request'],
  'A field is missing or wrong: the message names it',
);

export const unauthorizedError = errorOf(['unauthorized'], 'No valid bearer token');

/** A route's security: a bearer token in jwt mode, none needed in open mode. */
export const tokenOrNone: FastifySchema['security'] = [{ bearer: [] }, {}];

/** The one refusal of a private room to a non-member: it answers as a room that does not exist. */
export const roomNotFoundError = errorOf(
  ['room_not_found'],
  'No such room, or a private room you are not a member of (the two answer alike)',
);

/** `Idempotency-Key` on a bid; other headers pass through untouched. */
export const bidHeaders = z.looseObject({
  'idempotency-key': idempotencyKeyHeader
    .optional()
    .meta({ description: 'makes a retried bid safe: the same key returns the first answer (24 h)' }),
});

export const itemListResponse = z
  .object({ items: z.array(itemResponse) })
  .meta({ description: 'Open items soonest-ending first, or closed ones most recently closed first' });
export const devTokenResponse = z
  .object({ token: z.string().meta({ description: 'an HS256 JWT' }) })
  .meta({ description: 'A token for the user' });

const checkReport = z.record(
  z.string(),
  z.object({ ok: z.boolean(), error: z.string().optional(), ms: z.number() }),
);
export const healthResponse = z
  .object({
    status: z.enum(['ok', 'degraded', 'down']),
    strategy: z.string(),
    authMode: z.string(),
    checks: checkReport,
  })
  .meta({ description: 'Every dependency checked; 200 while bids can be taken' });
export const readinessResponse = z
  .object({
    ok: z.boolean(),
    draining: z.boolean().optional(),
    checks: checkReport.optional(),
  })
  .meta({ description: 'Ready: every check answered' });

const isoOf = (ms: number) => new Date(ms).toISOString();

export function roomView(room: RoomRecord): z.infer<typeof roomResponse> {
  return {
    id: room.id,
    private: room.private,
    createdBy: room.createdBy,
    createdAt: isoOf(room.createdAtMs),
    members: [...room.members].sort(),
  };
}

/** Item as the API shows it: closed as soon as endsAt has passed, even before the closer ran. */
export function itemView(item: ItemState, nowMs = Date.now()): z.infer<typeof itemResponse> {
  return {
    id: item.id,
    title: item.title,
    status: item.status === 'closed' || nowMs >= item.endsAtMs ? 'closed' : 'open',
    startingPrice: formatCents(item.startingPriceCents),
    startingPriceCents: item.startingPriceCents,
    minIncrement: formatCents(item.minIncrementCents),
    minIncrementCents: item.minIncrementCents,
    highestBid: item.highest
      ? {
          amount: formatCents(item.highest.cents),
          amountCents: item.highest.cents,
          userId: item.highest.userId,
          seq: item.highest.seq,
          at: isoOf(item.highest.atMs),
        }
      : null,
    bidCount: item.seq,
    endsAt: isoOf(item.endsAtMs),
    openedAt: isoOf(item.openedAtMs),
    closedAt: item.closedAtMs === null ? null : isoOf(item.closedAtMs),
  };
}

/** /livez, /readyz and /metrics, as every service has them. */
export const opsRouteSchemas = {
  livez: {
    tags: ['operations'],
    summary: 'The process is alive',
    response: { 200: z.object({ ok: z.literal(true) }).meta({ description: 'Alive' }) },
  },
  readyz: {
    tags: ['operations'],
    summary: 'Ready for traffic: Redis answers and the process is not draining',
    response: {
      200: readinessResponse,
      503: readinessResponse.meta({ description: 'Not ready: a check failed, or draining' }),
    },
  },
  metrics: {
    tags: ['operations'],
    summary: 'Prometheus metrics (text exposition format)',
    produces: ['text/plain'],
    response: { 200: z.string().meta({ description: 'Prometheus text format' }) },
  },
};

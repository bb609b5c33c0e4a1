import { z } from 'zod';
import { formatCents, idSchema, parseAmount } from '@gavel/shared';
import type { ItemState } from './bid-strategies/rules.js';

/**
 * Request and response shapes of the HTTP API. Amounts go out twice: `amount` as a decimal
 * string in major units ("12.50", exact, the form a client may send back) and `amountCents` as
 * an integer; timestamps are ISO 8601 strings.
 */

/** Money in: a JSON number or a decimal string, at most 2 decimals, > 0, capped; out: cents. */
export const amountInput = z.unknown().transform((value, ctx) => {
  const parsed = parseAmount(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.reason });
    return z.NEVER;
  }
  return parsed.cents;
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
export const instantInput = z.union([z.number(), z.string()]).transform(toInstant);
const instantQuery = z.string().max(64).transform(toInstant);

export const idParams = z.object({ id: idSchema }).strict();

export const createItemBody = z
  .object({
    id: idSchema.optional(),
    title: z.string().trim().min(1).max(200),
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

export const devTokenBody = z.object({ userId: idSchema }).strict();

export const idempotencyKeyHeader = z
  .string()
  .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 visible ASCII characters');

const amountOut = { amount: z.string(), amountCents: z.number().int() };
const iso = z.iso.datetime({ offset: true });

export const itemResponse = z.object({
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
});

export const bidResponse = z.object({
  itemId: idSchema,
  seq: z.number().int().positive(),
  ...amountOut,
  userId: idSchema,
  at: iso,
  endsAt: iso,
  extended: z.boolean(),
});

export const bidHistoryResponse = z.object({
  itemId: idSchema,
  bids: z.array(z.object({ seq: z.number().int(), userId: z.string(), ...amountOut, at: iso })),
  /** Pass as `after` to read the next page; null when this page was the last. */
  nextAfter: z.number().int().nullable(),
});

export const messagesResponse = z.object({
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
});

export const errorResponse = z.object({ error: z.string(), message: z.string() }).loose();

const isoOf = (ms: number) => new Date(ms).toISOString();

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

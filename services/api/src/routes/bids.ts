import type { FastifyInstance, FastifySchema } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { formatCents } from '@gavel/shared';
import { sendError, sendInvalid, sendOutboxFull } from '../http-errors.js';
import {
  bidBody,
  bidHeaders,
  bidResponse,
  bodyErrors,
  errorOf,
  idParams,
  invalidRequest,
  serverErrors,
  tokenOrNone,
  unauthorizedError,
} from '../schemas.js';
import type { RouteDeps } from './route-deps.js';

const money = z.string().nullable();
const cents = z.number().int().nullable();

/** POST /api/v1/items/:id/bid, as the docs show it. */
const bidRoute = {
  tags: ['bids'],
  summary: 'Place a bid',
  description:
    'Accepted bids get the next seq of the item and are announced to every watcher. In jwt mode the ' +
    "bidder is the token's subject; in open mode the body names it (userId or user_id).",
  security: tokenOrNone,
  params: idParams,
  headers: bidHeaders,
  body: bidBody,
  response: {
    201: bidResponse,
    400: invalidRequest,
    401: unauthorizedError,
    403: errorOf(['user_mismatch'], 'The body names another user than the token'),
    404: errorOf(['item_not_found'], 'No such item (and AUTO_OPEN_ITEMS is off)'),
    409: errorOf(
      ['bid_too_low', 'contention'],
      'Not accepted: too low, or too many concurrent bids (retry)',
      {
        highest: money.optional(),
        highestCents: cents.optional(),
        minimum: z.string().optional(),
        minimumCents: z.number().int().optional(),
      },
    ),
    410: errorOf(['auction_closed'], 'The auction has ended', { endsAt: z.string().optional() }),
    422: errorOf(['idempotency_key_reused'], 'This Idempotency-Key was used for a different bid'),
    429: errorOf(['rate_limited'], 'Too many bids from this user: wait Retry-After seconds'),
    ...bodyErrors,
    500: serverErrors[500],
    503: errorOf(
      ['outcome_unknown', 'outbox_full', 'dependency_unavailable'],
      'Retry later; outcome_unknown: retry with the same Idempotency-Key to learn whether it counted',
    ),
  },
} satisfies FastifySchema;

export function registerBidRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { strategy, authenticate, metrics, keys } = deps;
  // Label lookups once per outcome, not once per bid.
  const counters = new Map<string, { inc(): void }>();
  const count = (outcome: string) => {
    let counter = counters.get(outcome);
    if (!counter) {
      counter = metrics.bids.labels({ outcome, strategy: strategy.name });
      counters.set(outcome, counter);
    }
    counter.inc();
  };
  const bidDuration = metrics.bidDuration.labels({ strategy: strategy.name });

  const api = app.withTypeProvider<ZodTypeProvider>();
  // Validated against the schema, answered in the handler: authentication comes first.
  api.post('/api/v1/items/:id/bid', { schema: bidRoute, attachValidation: true }, async (request, reply) => {
    const caller = await authenticate(request);
    if (!caller.ok) {
      count('unauthorized');
      return sendError(reply, 401, 'unauthorized', caller.reason);
    }
    if (request.validationError) {
      count('invalid');
      return sendInvalid(reply, request.validationError);
    }
    const { params, body } = request;
    const named = body.userId ?? body.user_id;
    let userId: string;
    if (caller.userId !== null) {
      // A token says who bids; a body naming someone else is refused, not ignored.
      if (named !== undefined && named !== caller.userId) {
        count('forbidden');
        return sendError(reply, 403, 'user_mismatch', 'the body names a different user than the token');
      }
      userId = caller.userId;
    } else {
      if (named === undefined) {
        count('invalid');
        return sendError(reply, 400, 'invalid_request', 'body.userId: required (or user_id)');
      }
      userId = named;
    }
    const rawKey = request.headers['idempotency-key'];
    // The schema checked it: one string when present.
    const idempotencyKey = typeof rawKey === 'string' ? keys.idempotency(params.id, userId, rawKey) : null;
    // The strategy replays a stored answer first, then applies the rate limit, then the bid.
    const bid = { itemId: params.id, userId, amountCents: body.amount };
    const stop = bidDuration.startTimer();
    const result = await strategy.placeBid(bid, idempotencyKey).finally(() => stop());
    count(result.replayed ? `replayed_${result.outcome}` : result.outcome);
    if (result.replayed) reply.header('idempotent-replayed', 'true');

    if (result.outcome === 'accepted' && !result.replayed) deps.outboxWritten();
    switch (result.outcome) {
      case 'accepted': {
        const answer: z.output<typeof bidResponse> = {
          itemId: result.itemId,
          seq: result.seq,
          amount: formatCents(result.amountCents),
          amountCents: result.amountCents,
          userId: result.userId,
          at: new Date(result.atMs).toISOString(),
          endsAt: new Date(result.endsAtMs).toISOString(),
          extended: result.extended,
        };
        return reply.code(201).send(answer);
      }
      case 'too_low':
        return sendError(
          reply,
          409,
          'bid_too_low',
          `bid must be at least ${formatCents(result.minimumCents)}`,
          {
            highest: result.highestCents === null ? null : formatCents(result.highestCents),
            highestCents: result.highestCents,
            minimum: formatCents(result.minimumCents),
            minimumCents: result.minimumCents,
          },
        );
      case 'closed':
        return sendError(reply, 410, 'auction_closed', `the auction for ${result.itemId} has ended`, {
          endsAt: new Date(result.endsAtMs).toISOString(),
        });
      case 'not_found':
        return sendError(reply, 404, 'item_not_found', `no item ${result.itemId}`);
      case 'rate_limited': {
        const retryAfterS = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
        reply.header('retry-after', String(retryAfterS));
        return sendError(reply, 429, 'rate_limited', `too many bids; retry in ${retryAfterS} s`);
      }
      case 'outbox_full':
        return sendOutboxFull(reply);
      case 'contention':
        reply.header('retry-after', '1');
        return sendError(reply, 409, 'contention', 'too many concurrent bids on this item; retry');
      case 'idempotency_mismatch':
        return sendError(
          reply,
          422,
          'idempotency_key_reused',
          'this Idempotency-Key was used for a different bid',
        );
    }
  });
}

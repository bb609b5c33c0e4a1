import type { FastifyInstance } from 'fastify';
import { formatCents } from '@gavel/shared';
import { describeZodError, sendError } from '../http-errors.js';
import { bidBody, idempotencyKeyHeader, idParams, type bidResponse } from '../schemas.js';
import type { z } from 'zod';
import type { RouteDeps } from './route-deps.js';

export function registerBidRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { strategy, rateLimits, authenticate, metrics, keys } = deps;
  const count = (outcome: string) => metrics.bids.inc({ outcome, strategy: strategy.name });

  app.post('/api/v1/items/:id/bid', async (request, reply) => {
    const caller = await authenticate(request);
    if (!caller.ok) {
      count('unauthorized');
      return sendError(reply, 401, 'unauthorized', caller.reason);
    }
    const params = idParams.safeParse(request.params);
    const body = bidBody.safeParse(request.body);
    if (!params.success || !body.success) {
      count('invalid');
      const message = [
        params.success ? '' : describeZodError('params', params.error),
        body.success ? '' : describeZodError('body', body.error),
      ]
        .filter(Boolean)
        .join('; ');
      return sendError(reply, 400, 'invalid_request', message);
    }
    const named = body.data.userId ?? body.data.user_id;
    let userId: string;
    if (caller.userId !== null) {
      // jwt mode: the token says who bids; a body naming someone else is refused, not ignored.
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
    let idempotencyKey: string | null = null;
    if (rawKey !== undefined) {
      const key = idempotencyKeyHeader.safeParse(rawKey);
      if (!key.success) {
        count('invalid');
        return sendError(reply, 400, 'invalid_request', describeZodError('Idempotency-Key', key.error));
      }
      idempotencyKey = keys.idempotency(userId, key.data);
    }
    const limit = await rateLimits.bid(userId);
    if (!limit.ok) {
      count('rate_limited');
      reply.header('retry-after', String(limit.retryAfterS));
      return sendError(reply, 429, 'rate_limited', `too many bids; retry in ${limit.retryAfterS} s`);
    }

    const bid = { itemId: params.data.id, userId, amountCents: body.data.amount };
    const stop = metrics.bidDuration.startTimer({ strategy: strategy.name });
    const result = await strategy.placeBid(bid, idempotencyKey).finally(() => stop());
    count(result.replayed ? `replayed_${result.outcome}` : result.outcome);
    if (result.replayed) reply.header('idempotent-replayed', 'true');

    switch (result.outcome) {
      case 'accepted': {
        const answer: z.infer<typeof bidResponse> = {
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
      case 'outbox_full':
        reply.header('retry-after', '5');
        return sendError(reply, 503, 'outbox_full', 'events cannot be published right now; retry later');
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

import type { FastifyInstance } from 'fastify';
import { formatCents } from '@gavel/shared';
import { DependencyUnavailableError, describeZodError, sendError } from '../http-errors.js';
import {
  bidsQuery,
  idParams,
  messagesQuery,
  type bidHistoryResponse,
  type messagesResponse,
} from '../schemas.js';
import type { z } from 'zod';
import type { RouteDeps } from './route-deps.js';

async function fromPostgres<T>(query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (err) {
    throw new DependencyUnavailableError('postgres', err);
  }
}

/** History routes: what the archival worker stored in PostgreSQL. */
export function registerHistoryRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { history } = deps;

  app.get('/api/v1/items/:id/bids', async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success)
      return sendError(reply, 400, 'invalid_request', describeZodError('params', params.error));
    const query = bidsQuery.safeParse(request.query);
    if (!query.success)
      return sendError(reply, 400, 'invalid_request', describeZodError('query', query.error));
    const { after, limit } = query.data;
    const rows = await fromPostgres(() => history.bidsAfter(params.data.id, after, limit));
    const answer: z.infer<typeof bidHistoryResponse> = {
      itemId: params.data.id,
      bids: rows.map((r) => ({
        seq: r.seq,
        userId: r.userId,
        amount: formatCents(r.amountCents),
        amountCents: r.amountCents,
        at: r.at.toISOString(),
      })),
      nextAfter: rows.length === limit ? rows[rows.length - 1]!.seq : null,
    };
    return reply.send(answer);
  });

  app.get('/api/v1/rooms/:id/messages', async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success)
      return sendError(reply, 400, 'invalid_request', describeZodError('params', params.error));
    const query = messagesQuery.safeParse(request.query);
    if (!query.success)
      return sendError(reply, 400, 'invalid_request', describeZodError('query', query.error));
    const { before, limit } = query.data;
    const rows = await fromPostgres(() => history.messagesBefore(params.data.id, before, limit));
    const answer: z.infer<typeof messagesResponse> = {
      roomId: params.data.id,
      messages: rows.map((r) => ({ ...r, at: r.at.toISOString() })),
      nextBefore: rows.length === limit ? rows[rows.length - 1]!.at.toISOString() : null,
    };
    return reply.send(answer);
  });
}

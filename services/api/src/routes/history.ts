import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { formatCents, maySeeRoom } from '@gavel/shared';
import { DependencyUnavailableError, sendError, sendInvalid } from '../http-errors.js';
import { someone } from '../request-auth.js';
import {
  bidHistoryResponse,
  bidsQuery,
  dmsQuery,
  dmsResponse,
  idParams,
  invalidRequest,
  messagesQuery,
  messagesResponse,
  roomNotFoundError,
  serverErrors,
  tokenOrNone,
  unauthorizedError,
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

/**
 * History routes: what the archival worker stored in PostgreSQL. Each needs a valid token in jwt
 * mode (in open mode, one that is sent is checked); a private room's messages go to its members
 * only, and to anyone else it answers as a room that does not exist.
 */
export function registerHistoryRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { history, authenticate, rooms } = deps;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get(
    '/api/v1/items/:id/bids',
    {
      attachValidation: true,
      schema: {
        tags: ['history'],
        summary: "An item's accepted bids in seq order, a page at a time",
        security: tokenOrNone,
        params: idParams,
        querystring: bidsQuery,
        response: { 200: bidHistoryResponse, 400: invalidRequest, 401: unauthorizedError, ...serverErrors },
      },
    },
    async (request, reply) => {
      const caller = await authenticate(request);
      if (!caller.ok) return sendError(reply, 401, 'unauthorized', caller.reason);
      if (request.validationError) return sendInvalid(reply, request.validationError);
      const { params } = request;
      const { after, limit } = request.query;
      const rows = await fromPostgres(() => history.bidsAfter(params.id, after, limit));
      const answer: z.output<typeof bidHistoryResponse> = {
        itemId: params.id,
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
    },
  );

  api.get(
    '/api/v1/rooms/:id/messages',
    {
      attachValidation: true,
      schema: {
        tags: ['history'],
        summary: "A room's chat, newest first, a page at a time (a private room: its members only)",
        security: tokenOrNone,
        params: idParams,
        querystring: messagesQuery,
        response: {
          200: messagesResponse,
          400: invalidRequest,
          401: unauthorizedError,
          404: roomNotFoundError,
          ...serverErrors,
        },
      },
    },
    async (request, reply) => {
      const caller = await authenticate(request);
      if (!caller.ok) return sendError(reply, 401, 'unauthorized', caller.reason);
      if (request.validationError) return sendInvalid(reply, request.validationError);
      const { params } = request;
      // Read fresh for every request: a member removed a moment ago reads nothing more.
      if (!maySeeRoom(await rooms.get(params.id), caller.userId)) {
        return sendError(reply, 404, 'room_not_found', `no room ${params.id} that you can see`);
      }
      const { before, limit } = request.query;
      const rows = await fromPostgres(() => history.messagesBefore(params.id, before, limit));
      const answer: z.output<typeof messagesResponse> = {
        roomId: params.id,
        messages: rows.map((r) => ({ ...r, at: r.at.toISOString() })),
        nextBefore: rows.length === limit ? rows[rows.length - 1]!.at.toISOString() : null,
      };
      return reply.send(answer);
    },
  );

  // Only ever the caller's own conversation: the other party is `with`, the caller the token's.
  api.get(
    '/api/v1/dms',
    {
      // Validated against the schema, answered in the handler: authentication comes first.
      attachValidation: true,
      schema: {
        tags: ['history'],
        summary: "The caller's direct messages with one user, newest first",
        security: [{ bearer: [] }],
        querystring: dmsQuery,
        response: { 200: dmsResponse, 400: invalidRequest, 401: unauthorizedError, ...serverErrors },
      },
    },
    async (request, reply) => {
      const caller = someone(await authenticate(request), 'direct messages');
      if (!caller.ok) return sendError(reply, 401, 'unauthorized', caller.reason);
      if (request.validationError) return sendInvalid(reply, request.validationError);
      const { with: other, before, limit } = request.query;
      const me = caller.userId;
      const rows = await fromPostgres(() => history.conversationBefore(me, other, before, limit));
      const answer: z.output<typeof dmsResponse> = {
        with: other,
        messages: rows.map((r) => ({ ...r, at: r.at.toISOString() })),
        nextBefore: rows.length === limit ? rows[rows.length - 1]!.at.toISOString() : null,
      };
      return reply.send(answer);
    },
  );
}

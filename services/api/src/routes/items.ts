import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { sendError, sendInvalid } from '../http-errors.js';
import {
  bodyErrors,
  createItemBody,
  errorOf,
  idParams,
  invalidRequest,
  itemListResponse,
  itemResponse,
  itemView,
  listItemsQuery,
  serverErrors,
  unauthorizedError,
} from '../schemas.js';
import type { RouteDeps } from './route-deps.js';

/** An auction may run for at most this long. */
const MAX_DURATION_MS = 90 * 24 * 3600 * 1000;

export function registerItemRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { items, authenticate } = deps;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/api/v1/items',
    {
      // Validated here, answered in the handler: authentication comes first.
      attachValidation: true,
      schema: {
        tags: ['items'],
        summary: 'Open an auction',
        security: [{ bearer: [] }],
        body: createItemBody,
        response: {
          201: itemResponse,
          400: invalidRequest,
          401: unauthorizedError,
          409: errorOf(
            ['item_exists', 'room_exists'],
            "An item with this id exists, or a private room does (an item's chat room is public)",
          ),
          ...bodyErrors,
          ...serverErrors,
        },
      },
    },
    async (request, reply) => {
      const caller = await authenticate(request);
      if (!caller.ok) return sendError(reply, 401, 'unauthorized', caller.reason);
      if (request.validationError) return sendInvalid(reply, request.validationError);
      const now = Date.now();
      const { endsAt, startingPrice, minIncrement, title } = request.body;
      if (endsAt <= now)
        return sendError(reply, 400, 'invalid_request', 'body.endsAt: must be in the future');
      if (endsAt > now + MAX_DURATION_MS) {
        return sendError(reply, 400, 'invalid_request', 'body.endsAt: must be at most 90 days ahead');
      }
      const id = request.body.id ?? randomUUID();
      const created = await items.create({
        id,
        title,
        startingPriceCents: startingPrice,
        minIncrementCents: minIncrement,
        endsAtMs: endsAt,
      });
      if (created === 'exists') return sendError(reply, 409, 'item_exists', `item ${id} already exists`);
      if (created === 'private_room') {
        return sendError(
          reply,
          409,
          'room_exists',
          `a private room has the id ${id}: an item's chat room is the room of its id, and stays public`,
        );
      }
      deps.outboxWritten();
      return reply.code(201).header('location', `/api/v1/items/${id}`).send(itemView(created));
    },
  );

  api.get(
    '/api/v1/items',
    {
      attachValidation: true,
      schema: {
        tags: ['items'],
        summary: 'List auctions (open by default), soonest to end first',
        querystring: listItemsQuery,
        response: { 200: itemListResponse, 400: invalidRequest, ...serverErrors },
      },
    },
    async (request, reply) => {
      if (request.validationError) return sendInvalid(reply, request.validationError);
      const list = await items.list(request.query.status, request.query.limit);
      const now = Date.now();
      return reply.send({ items: list.map((item) => itemView(item, now)) });
    },
  );

  api.get(
    '/api/v1/items/:id',
    {
      attachValidation: true,
      schema: {
        tags: ['items'],
        summary: 'One auction: its rules, highest bid and end',
        params: idParams,
        response: {
          200: itemResponse,
          400: invalidRequest,
          404: errorOf(['item_not_found'], 'No such item'),
          ...serverErrors,
        },
      },
    },
    async (request, reply) => {
      if (request.validationError) return sendInvalid(reply, request.validationError);
      const item = await items.get(request.params.id);
      if (!item) return sendError(reply, 404, 'item_not_found', `no item ${request.params.id}`);
      return reply.send(itemView(item));
    },
  );
}

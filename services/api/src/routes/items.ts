import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { describeZodError, sendError } from '../http-errors.js';
import { createItemBody, idParams, itemView, listItemsQuery } from '../schemas.js';
import type { RouteDeps } from './route-deps.js';

/** An auction may run for at most this long. */
const MAX_DURATION_MS = 90 * 24 * 3600 * 1000;

export function registerItemRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { items, authenticate } = deps;

  app.post('/api/v1/items', async (request, reply) => {
    const caller = await authenticate(request);
    if (!caller.ok) return sendError(reply, 401, 'unauthorized', caller.reason);
    const body = createItemBody.safeParse(request.body);
    if (!body.success) return sendError(reply, 400, 'invalid_request', describeZodError('body', body.error));
    const now = Date.now();
    const { endsAt, startingPrice, minIncrement, title } = body.data;
    if (endsAt <= now) return sendError(reply, 400, 'invalid_request', 'body.endsAt: must be in the future');
    if (endsAt > now + MAX_DURATION_MS) {
      return sendError(reply, 400, 'invalid_request', 'body.endsAt: must be at most 90 days ahead');
    }
    const id = body.data.id ?? randomUUID();
    const created = await items.create({
      id,
      title,
      startingPriceCents: startingPrice,
      minIncrementCents: minIncrement,
      endsAtMs: endsAt,
    });
    if (!created) return sendError(reply, 409, 'item_exists', `item ${id} already exists`);
    return reply.code(201).header('location', `/api/v1/items/${id}`).send(itemView(created));
  });

  app.get('/api/v1/items', async (request, reply) => {
    const query = listItemsQuery.safeParse(request.query);
    if (!query.success)
      return sendError(reply, 400, 'invalid_request', describeZodError('query', query.error));
    const list = await items.list(query.data.status, query.data.limit);
    const now = Date.now();
    return reply.send({ items: list.map((item) => itemView(item, now)) });
  });

  app.get('/api/v1/items/:id', async (request, reply) => {
    const params = idParams.safeParse(request.params);
    if (!params.success)
      return sendError(reply, 400, 'invalid_request', describeZodError('params', params.error));
    const item = await items.get(params.data.id);
    if (!item) return sendError(reply, 404, 'item_not_found', `no item ${params.data.id}`);
    return reply.send(itemView(item));
  });
}

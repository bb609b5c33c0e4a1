import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { MAX_ROOM_MEMBERS, maySeeRoom } from '@gavel/shared';
import { DependencyUnavailableError, sendError, sendInvalid, sendOutboxFull } from '../http-errors.js';
import { someone } from '../request-auth.js';
import {
  bodyErrors,
  createRoomBody,
  errorOf,
  idParams,
  invalidRequest,
  roomMemberBody,
  roomMemberParams,
  roomNotFoundError,
  roomResponse,
  roomView,
  serverErrors,
  tokenOrNone,
  unauthorizedError,
} from '../schemas.js';
import type { RouteDeps } from './route-deps.js';

const outboxFull = errorOf(
  ['outbox_full', 'outcome_unknown', 'dependency_unavailable'],
  'Retry later; outcome_unknown: the change may have been applied (read the room to learn whether)',
);

function refuseTaken(reply: FastifyReply, roomId: string, by: 'exists' | 'item') {
  if (by === 'item')
    return sendError(reply, 409, 'item_room', `${roomId} is an item's chat room: it stays public`);
  return sendError(reply, 409, 'room_exists', `room ${roomId} already exists`);
}

function notFound(reply: FastifyReply, roomId: string) {
  return sendError(reply, 404, 'room_not_found', `no room ${roomId} that you can see`);
}

/**
 * Rooms: public by default (a room nobody created is public, and so is an item's room, whose
 * id is the item's); a created private room is seen by its members only. To anyone else it
 * answers as a room that does not exist (404 room_not_found), here, on its history and in
 * broadcast (`forbidden`). Members manage the members; the last one cannot leave.
 */
export function registerRoomRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { rooms, history, authenticate } = deps;
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.post(
    '/api/v1/rooms',
    {
      // Validated here, answered in the handler: authentication comes first.
      attachValidation: true,
      schema: {
        tags: ['rooms'],
        summary: 'Create a room: private (members only) or public (its id reserved)',
        description:
          'The creator (the token’s subject) is always a member of a private room. An id is taken when ' +
          'a room was created with it, an item has it (an item’s chat room stays public), someone is ' +
          'in that room now, or it has archived messages: 409, and nothing is created.',
        security: [{ bearer: [] }],
        body: createRoomBody,
        response: {
          201: roomResponse,
          400: invalidRequest,
          401: unauthorizedError,
          409: errorOf(['room_exists', 'item_room'], 'The id is taken: by a room, or by an item'),
          ...bodyErrors,
          500: serverErrors[500],
          503: outboxFull,
        },
      },
    },
    async (request, reply) => {
      const caller = someone(await authenticate(request), 'rooms');
      if (!caller.ok) return sendError(reply, 401, 'unauthorized', caller.reason);
      if (request.validationError) return sendInvalid(reply, request.validationError);
      const { id, members = [] } = request.body;
      if (new Set([caller.userId, ...members]).size > MAX_ROOM_MEMBERS) {
        return sendError(
          reply,
          400,
          'invalid_request',
          `body.members: a room has at most ${MAX_ROOM_MEMBERS} members, the creator included`,
        );
      }
      // The script decides about rooms and items; this read only names the reason first.
      const taken = await rooms.taken(id);
      if (taken) return refuseTaken(reply, id, taken);
      // A room in use stays as it is: making it private would hide its messages from the people
      // in it. These two are read before the script (they live elsewhere); a message sent in the
      // moment between stays in the room, for its members.
      const [occupied, hasMessages] = await Promise.all([
        rooms.occupied(id),
        history.hasMessages(id).catch((err: unknown) => {
          throw new DependencyUnavailableError('postgres', err);
        }),
      ]);
      if (occupied) return sendError(reply, 409, 'room_exists', `room ${id} is in use: someone is in it`);
      if (hasMessages) return sendError(reply, 409, 'room_exists', `room ${id} is in use: it has messages`);
      const created = await rooms.create({
        id,
        private: request.body.private,
        createdBy: caller.userId,
        members,
      });
      switch (created.outcome) {
        case 'created':
          deps.outboxWritten();
          return reply.code(201).header('location', `/api/v1/rooms/${id}`).send(roomView(created.room));
        case 'exists':
        case 'item':
          return refuseTaken(reply, id, created.outcome);
        case 'outbox_full':
          return sendOutboxFull(reply);
      }
    },
  );

  api.get(
    '/api/v1/rooms/:id',
    {
      attachValidation: true,
      schema: {
        tags: ['rooms'],
        summary: 'A created room and its members (a private one: to its members only)',
        security: tokenOrNone,
        params: idParams,
        response: {
          200: roomResponse,
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
      const room = await rooms.get(request.params.id);
      if (!room || !maySeeRoom(room, caller.userId)) return notFound(reply, request.params.id);
      return reply.send(roomView(room));
    },
  );

  api.post(
    '/api/v1/rooms/:id/members',
    {
      attachValidation: true,
      schema: {
        tags: ['rooms'],
        summary: 'Add a member to a private room (members only)',
        description:
          'Adding someone who is a member already changes nothing (200, no event). Announced as ' +
          '`room.member_added`: the new member can join at once.',
        security: [{ bearer: [] }],
        params: idParams,
        body: roomMemberBody,
        response: {
          200: roomResponse,
          400: invalidRequest,
          401: unauthorizedError,
          404: roomNotFoundError,
          409: errorOf(
            ['room_public', 'room_full'],
            `A public room has no members; at most ${MAX_ROOM_MEMBERS}`,
          ),
          ...bodyErrors,
          500: serverErrors[500],
          503: outboxFull,
        },
      },
    },
    async (request, reply) => {
      const caller = someone(await authenticate(request), 'rooms');
      if (!caller.ok) return sendError(reply, 401, 'unauthorized', caller.reason);
      if (request.validationError) return sendInvalid(reply, request.validationError);
      const { id } = request.params;
      const added = await rooms.addMember(id, caller.userId, request.body.userId);
      switch (added.outcome) {
        case 'added':
          deps.outboxWritten();
          return reply.send(roomView(added.room));
        case 'already':
          return reply.send(roomView(added.room));
        case 'not_found':
          return notFound(reply, id);
        case 'public':
          return sendError(reply, 409, 'room_public', `room ${id} is public: it has no member list`);
        case 'full':
          return sendError(reply, 409, 'room_full', `room ${id} has ${MAX_ROOM_MEMBERS} members already`);
        case 'outbox_full':
          return sendOutboxFull(reply);
      }
    },
  );

  api.delete(
    '/api/v1/rooms/:id/members/:userId',
    {
      attachValidation: true,
      schema: {
        tags: ['rooms'],
        summary: 'Remove a member from a private room, or leave it (members only)',
        description:
          'Any member may remove any member, themself included. The last member cannot: a private ' +
          'room always has someone to manage it (409 last_member). Announced as `room.member_removed`: ' +
          'the removed user’s connections are taken out of the room at once (`room:removed`).',
        security: [{ bearer: [] }],
        params: roomMemberParams,
        response: {
          200: roomResponse.meta({ description: 'The room as it is now' }),
          400: invalidRequest,
          401: unauthorizedError,
          404: errorOf(
            ['room_not_found', 'member_not_found'],
            'No room you can see, or the user is not a member',
          ),
          409: errorOf(['room_public', 'last_member'], 'A public room has no members; the last one stays'),
          500: serverErrors[500],
          503: outboxFull,
        },
      },
    },
    async (request, reply) => {
      const caller = someone(await authenticate(request), 'rooms');
      if (!caller.ok) return sendError(reply, 401, 'unauthorized', caller.reason);
      if (request.validationError) return sendInvalid(reply, request.validationError);
      const { id, userId } = request.params;
      const removed = await rooms.removeMember(id, caller.userId, userId);
      switch (removed.outcome) {
        case 'removed':
          deps.outboxWritten();
          return reply.send(roomView(removed.room));
        case 'not_found':
          return notFound(reply, id);
        case 'not_member':
          return sendError(reply, 404, 'member_not_found', `${userId} is not a member of room ${id}`);
        case 'public':
          return sendError(reply, 409, 'room_public', `room ${id} is public: it has no member list`);
        case 'last_member':
          return sendError(
            reply,
            409,
            'last_member',
            `${userId} is the last member of room ${id}: a private room keeps at least one`,
          );
        case 'outbox_full':
          return sendOutboxFull(reply);
      }
    },
  );
}

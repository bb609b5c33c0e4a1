import type { FastifyInstance } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { createJsonSchemaTransform, validatorCompiler } from 'fastify-type-provider-zod';

/** Where the API's documentation lives: the UI at /docs, the OpenAPI document at /docs/json. */
export const DOCS_PREFIX = '/docs';

/**
 * The zod schemas each route declares validate its input and describe it in an OpenAPI 3.1
 * document, served with Swagger UI. Registered before the routes: the document is built from the
 * routes as they are added.
 */
export async function registerApiDocs(app: FastifyInstance, options: { version: string }): Promise<void> {
  // Input: the route's zod schemas parse (and transform) params, query, headers and body.
  app.setValidatorCompiler(validatorCompiler);
  // Output: plain JSON. Response schemas document the answers and type-check reply.send() at
  // build time; checking each answer again at run time would only cost CPU on the bid path.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gavel API',
        version: options.version,
        description:
          'Items, bids, rooms and history over HTTP. Live bids, chat and direct messages travel over the ' +
          'broadcast service (Socket.IO and /ws), described in docs/protocol.md and docs/asyncapi.yaml. ' +
          'Amounts go out as a decimal string (amount) and integer cents (amountCents); every error ' +
          'is {error, message} with a stable code.',
      },
      tags: [
        { name: 'items', description: 'Auctions: create, list, read' },
        { name: 'bids', description: 'Placing bids' },
        {
          name: 'rooms',
          description:
            'Chat rooms: public by default; a private room is for its members, and to anyone else ' +
            'answers as a room that does not exist',
        },
        { name: 'history', description: 'What the archival worker stored: bids, chat, direct messages' },
        { name: 'auth', description: 'Dev tokens (local stacks only)' },
        { name: 'operations', description: 'Health, readiness and metrics' },
      ],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'HS256 token whose subject is the user (AUTH_MODE=jwt)',
          },
        },
      },
    },
    transform: createJsonSchemaTransform({ skipList: [] }),
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PREFIX,
    // The docs pages keep the api's policy, with one exception: Swagger UI sets an inline style
    // attribute as it renders. Scripts stay files of this origin only.
    transformStaticCSP: (policy) =>
      policy.replace(/style-src 'self'(?=;|$)/, "style-src 'self' 'unsafe-inline'"),
  });
}

import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { signToken } from '@gavel/shared';
import { sendError, sendInvalid } from '../http-errors.js';
import {
  bodyErrors,
  devTokenBody,
  devTokenResponse,
  errorOf,
  invalidRequest,
  serverErrors,
} from '../schemas.js';
import type { RouteDeps } from './route-deps.js';

/** POST /api/v1/dev/token: registered only when DEV_TOKENS=true (local stacks). */
export function registerDevTokenRoute(app: FastifyInstance, deps: RouteDeps): void {
  const { config, rateLimits } = deps;
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/v1/dev/token',
    {
      // Validated against the schema, answered in the handler: the rate limit comes first.
      attachValidation: true,
      schema: {
        tags: ['auth'],
        summary: 'A token for any user (only where DEV_TOKENS=true: local stacks)',
        body: devTokenBody,
        response: {
          200: devTokenResponse,
          400: invalidRequest,
          404: errorOf(['not_found'], 'Tokens are not used here (AUTH_MODE=open)'),
          429: errorOf(['rate_limited'], 'Too many tokens from this address: wait Retry-After seconds'),
          ...bodyErrors,
          ...serverErrors,
        },
      },
    },
    async (request, reply) => {
      const limit = await rateLimits.devToken(request.ip);
      if (!limit.ok) {
        reply.header('retry-after', String(limit.retryAfterS));
        return sendError(reply, 429, 'rate_limited', `too many tokens; retry in ${limit.retryAfterS} s`);
      }
      if (request.validationError) return sendInvalid(reply, request.validationError);
      if (config.AUTH_MODE !== 'jwt' || !config.AUTH_SECRET) {
        return sendError(reply, 404, 'not_found', 'tokens are not used when AUTH_MODE=open');
      }
      const token = await signToken(config.AUTH_SECRET, request.body.userId, {
        expiresInSeconds: config.DEV_TOKEN_TTL_S,
      });
      return reply.send({ token });
    },
  );
}

import type { FastifyInstance } from 'fastify';
import { signToken } from '@gavel/shared';
import { describeZodError, sendError } from '../http-errors.js';
import { devTokenBody } from '../schemas.js';
import type { RouteDeps } from './route-deps.js';

/** POST /api/v1/dev/token: registered only when DEV_TOKENS=true (local stacks). */
export function registerDevTokenRoute(app: FastifyInstance, deps: RouteDeps): void {
  const { config, rateLimits } = deps;
  app.post('/api/v1/dev/token', async (request, reply) => {
    const limit = await rateLimits.devToken(request.ip);
    if (!limit.ok) {
      reply.header('retry-after', String(limit.retryAfterS));
      return sendError(reply, 429, 'rate_limited', `too many tokens; retry in ${limit.retryAfterS} s`);
    }
    const body = devTokenBody.safeParse(request.body);
    if (!body.success) return sendError(reply, 400, 'invalid_request', describeZodError('body', body.error));
    if (config.AUTH_MODE !== 'jwt' || !config.AUTH_SECRET) {
      return sendError(reply, 404, 'not_found', 'tokens are not used when AUTH_MODE=open');
    }
    return reply.send({ token: await signToken(config.AUTH_SECRET, body.data.userId) });
  });
}

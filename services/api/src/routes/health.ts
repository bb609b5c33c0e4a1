import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { runChecks, type ReadinessCheck } from '@gavel/shared';
import { healthResponse } from '../schemas.js';

/**
 * GET /health (seed 004): a JSON summary of every dependency. 200 while bids can be taken
 * (Redis answers); NATS or PostgreSQL being down only degrades (events wait in the outbox,
 * history is unavailable).
 */
export function registerHealthRoute(
  app: FastifyInstance,
  options: { checks: Record<string, ReadinessCheck>; strategy: string; authMode: string },
): void {
  const schema = {
    tags: ['operations'],
    summary: 'Every dependency, checked (seed 004)',
    response: { 200: healthResponse, 503: healthResponse.meta({ description: 'Redis is down: no bids' }) },
  };
  app
    .withTypeProvider<ZodTypeProvider>()
    .get('/health', { logLevel: 'silent', schema }, async (_request, reply) => {
      const { ok, checks } = await runChecks(options.checks, 1000);
      const status = ok ? 'ok' : checks.redis?.ok ? 'degraded' : 'down';
      return reply
        .code(status === 'down' ? 503 : 200)
        .send({ status, strategy: options.strategy, authMode: options.authMode, checks });
    });
}

import type { FastifyReply } from 'fastify';
import type { z } from 'zod';

/** Every error body: a stable machine code and a sentence for humans. */
export interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly [extra: string]: unknown;
}

export function sendError(
  reply: FastifyReply,
  status: number,
  error: string,
  message: string,
  extra: Record<string, unknown> = {},
) {
  return reply.code(status).send({ error, message, ...extra } satisfies ErrorBody);
}

/** "body.amount: must be ..." lines from a zod error, short enough for a response. */
export function describeZodError(where: string, error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = [where, ...issue.path.map(String)].join('.');
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** Thrown by a dependency wrapper; turned into 503 by the error handler. */
export class DependencyUnavailableError extends Error {
  constructor(
    readonly dependency: 'redis' | 'postgres' | 'nats',
    cause: unknown,
  ) {
    super(`${dependency} is unavailable`, { cause });
    this.name = 'DependencyUnavailableError';
  }
}

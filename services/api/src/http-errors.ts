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

/** The outbox holds OUTBOX_MAX_PENDING events (the relay cannot publish): nothing was written. */
export function sendOutboxFull(reply: FastifyReply) {
  reply.header('retry-after', '5');
  return sendError(reply, 503, 'outbox_full', 'events cannot be published right now; retry later');
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

/**
 * A write was sent to `dependency` but no answer came (timeout, connection lost): it may or may
 * not have been applied. Turned into 503 outcome_unknown: the client must retry with the same
 * Idempotency-Key to learn which.
 */
export class OutcomeUnknownError extends Error {
  constructor(
    readonly dependency: 'redis',
    cause: unknown,
  ) {
    super(`${dependency} did not answer; the outcome is unknown`, { cause });
    this.name = 'OutcomeUnknownError';
  }
}

/** What Fastify attaches when a request fails its route's schema (the zod validator's issues). */
export interface RequestValidationError {
  readonly message: string;
  readonly validation?: readonly { readonly instancePath?: string; readonly message?: string }[];
  readonly validationContext?: string;
}

/** "body.amount: must be …; …", in the words describeZodError uses. */
export function describeValidation(error: RequestValidationError): string {
  const where = error.validationContext === 'querystring' ? 'query' : (error.validationContext ?? 'request');
  const issues = error.validation ?? [];
  if (issues.length === 0) return error.message;
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = (issue.instancePath ?? '').split('/').filter(Boolean);
      return `${[where, ...path].join('.')}: ${issue.message ?? 'invalid'}`;
    })
    .join('; ');
}

/** 400 invalid_request for a request that failed its route's schema. */
export function sendInvalid(reply: FastifyReply, error: RequestValidationError) {
  return sendError(reply, 400, 'invalid_request', describeValidation(error));
}

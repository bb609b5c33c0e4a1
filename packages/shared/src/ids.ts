import { z } from 'zod';

/**
 * Item, room and user ids become NATS subject tokens and Redis key parts, so they are restricted
 * to characters that are safe in both (no dots, wildcards or whitespace).
 */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const idSchema = z.string().regex(ID_PATTERN, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -');

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/**
 * A zod error callback: "is required" for a missing field, otherwise the field's rule, so that a
 * refusal reads `"room" is required` or `"room" must be …` rather than a validator dump.
 */
export function requiredOr(rule: string) {
  return (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : rule);
}

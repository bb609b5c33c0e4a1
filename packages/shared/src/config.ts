import { z } from 'zod';
import type { Topology } from './events.js';
import { defaultLogFormat, logFormat } from './logger.js';

/**
 * Every service validates its environment once, at start, against a schema built from these
 * pieces. A bad value stops the process with a message that names the variable.
 */

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** "true" or "false" only: a typo must not silently mean false. */
export function envBool(defaultValue: boolean) {
  return z
    .enum(['true', 'false'], { error: 'must be "true" or "false"' })
    .default(defaultValue ? 'true' : 'false')
    .transform((v) => v === 'true');
}

export function envInt(defaultValue: number, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return z
    .string()
    .default(String(defaultValue))
    .transform((v, ctx) => {
      const n = Number(v);
      if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });
}

export function envUrl(defaultValue: string, protocols: readonly string[]) {
  return z
    .string()
    .default(defaultValue)
    .refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    );
}

/**
 * One URL, or several separated by commas (the seed nodes of a Redis Cluster), each with one of
 * `protocols`. Stays a string: the Redis helpers (redis-connection.ts) split it.
 */
export function envUrlList(defaultValue: string, protocols: readonly string[]) {
  return z
    .string()
    .default(defaultValue)
    .superRefine((v, ctx) => {
      const parts = v.split(',').map((s) => s.trim());
      parts.forEach((part, i) => {
        let ok = false;
        try {
          ok = protocols.includes(new URL(part).protocol);
        } catch {
          ok = false;
        }
        if (!ok) {
          const which = parts.length > 1 ? `entry ${i + 1} of the list: ` : '';
          ctx.addIssue({
            code: 'custom',
            message: `${which}must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
          });
        }
      });
    });
}

/** Comma-separated list; empty means none. */
export function envList(defaultValue = '') {
  return z
    .string()
    .default(defaultValue)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
}

export const logLevel = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info');

/** Variables shared by several services, with their local defaults. */
export const commonEnv = {
  LOG_LEVEL: logLevel,
  /** `json` or `pretty`. @default "pretty" when stdout is a terminal, else "json" */
  LOG_FORMAT: logFormat.default(defaultLogFormat),
  /** One Redis, or with REDIS_CLUSTER=true one or more seed nodes of a cluster (comma-separated). */
  REDIS_URL: envUrlList('redis://127.0.0.1:6379', ['redis:', 'rediss:']),
  /** Redis Cluster (ElastiCache cluster mode): keys are spread over shards by item. @default false */
  REDIS_CLUSTER: envBool(false),
  /** Prefix of every Redis key, so that tests (and several stacks) can share one Redis. */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]{0,64}$/)
    .default('gavel:'),
  DATABASE_URL: envUrl('postgres://postgres@127.0.0.1:5432/gavel', ['postgres:', 'postgresql:']),
  NATS_URL: envUrl('nats://127.0.0.1:4222', ['nats:', 'tls:']),
  NATS_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('GAVEL'),
  EVENT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('gavel'),
  /** Replicas of the JetStream streams (3 on the in-cluster NATS of the eks profile). */
  NATS_STREAM_REPLICAS: envInt(1, 1, 5),
  AUTH_MODE: z.enum(['jwt', 'open']).default('jwt'),
  AUTH_SECRET: z.string().optional(),
} as const;

/**
 * Parses `env` against `shape`; throws ConfigError naming every bad variable.
 * Empty strings count as unset, as they do in most shells and manifests.
 */
export function loadConfig<S extends z.ZodRawShape>(
  shape: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodObject<S>> {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const result = z.object(shape).safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = issue.path.join('.') || '(environment)';
        const value = cleaned[String(issue.path[0])];
        return `${name}: ${issue.message}${value === undefined ? '' : ` (got ${JSON.stringify(value.slice(0, 80))})`}`;
      }),
    );
  }
  return result.data;
}

/**
 * A service's entry point loads its config through this: a bad environment prints one line per
 * bad variable, prefixed with the service name, and exits 2 (no stack trace, no half start).
 */
export function configOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`${service}: ${err.message}`);
    process.exit(2);
  }
}

/** In jwt mode a secret is required, and a short one is refused. */
export function requireAuthSecret(config: { AUTH_MODE: 'jwt' | 'open'; AUTH_SECRET?: string | undefined }) {
  if (config.AUTH_MODE === 'jwt' && (!config.AUTH_SECRET || config.AUTH_SECRET.length < 16)) {
    throw new ConfigError(['AUTH_SECRET: must be at least 16 characters when AUTH_MODE=jwt']);
  }
}

/** Where a service's events live, from its validated config. */
export function topologyOf(config: {
  NATS_STREAM: string;
  EVENT_PREFIX: string;
  NATS_STREAM_REPLICAS?: number;
}): Topology {
  return {
    stream: config.NATS_STREAM,
    prefix: config.EVENT_PREFIX,
    replicas: config.NATS_STREAM_REPLICAS ?? 1,
  };
}

import { z } from 'zod';
import { commonEnv, envInt, loadConfig } from '@gavel/shared';

/** The archival worker's environment, checked once at start. */
export const archivalEnv = {
  LOG_LEVEL: commonEnv.LOG_LEVEL,
  LOG_FORMAT: commonEnv.LOG_FORMAT,
  DATABASE_URL: commonEnv.DATABASE_URL,
  NATS_URL: commonEnv.NATS_URL,
  NATS_STREAM: commonEnv.NATS_STREAM,
  EVENT_PREFIX: commonEnv.EVENT_PREFIX,
  NATS_STREAM_REPLICAS: commonEnv.NATS_STREAM_REPLICAS,
  /** Health and metrics only. */
  PORT: envInt(8082, 0, 65535),
  /** Most events written in one PostgreSQL transaction. */
  BATCH_SIZE: envInt(256, 1, 5000),
  /** Batches written at once, each in its own transaction and connection. */
  WRITE_CONCURRENCY: envInt(2, 1, 16),
  /** How long a partly filled batch waits for more events before it is written. */
  BATCH_MAX_WAIT_MS: envInt(50, 1, 60_000),
  /** Deliveries of an event whose insert keeps failing before it is dead-lettered. */
  MAX_DELIVERIES: envInt(5, 1, 1000),
  /** JetStream redelivers an unacknowledged event after this long (a crashed worker's batch). */
  ACK_WAIT_MS: envInt(30_000, 1000, 3_600_000),
  CHAT_RETENTION_HOURS: envInt(168, 1, 24 * 365 * 10),
  RETENTION_INTERVAL_S: envInt(300, 1, 86_400),
  /** Durable consumer name; replicas sharing it share the work. */
  CONSUMER_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ -')
    .default('archival'),
} as const;

export type ArchivalConfig = ReturnType<typeof loadArchivalConfig>;

export function loadArchivalConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(archivalEnv, env);
}

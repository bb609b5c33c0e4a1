import { z } from 'zod';
import {
  commonEnv,
  envBool,
  envInt,
  loadConfig,
  requireAuthSecret,
  requireRedisTopology,
} from '@gavel/shared';

/** Everything the api reads from its environment, validated once at start. */
export const apiEnv = {
  ...commonEnv,
  /** @default 8080 */
  PORT: envInt(8080, 0, 65535),
  /** @default "0.0.0.0" */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** How a bid is applied atomically in Redis. @default "lua" */
  BID_STRATEGY: z.enum(['lua', 'optimistic']).default('lua'),
  /** Enables POST /api/v1/dev/token (local only). @default false */
  DEV_TOKENS: envBool(false),
  /** Opens an unknown item on its first bid (seed 004's smoke test). @default false */
  AUTO_OPEN_ITEMS: envBool(false),
  /** Length of an auction opened by AUTO_OPEN_ITEMS. @default 3600 */
  AUTO_OPEN_DURATION_S: envInt(3600, 1, 30 * 24 * 3600),
  /** A bid this close to endsAt extends the auction. @default 30 */
  EXTEND_WINDOW_S: envInt(30, 0, 3600),
  /** An extended auction ends this long after the extending bid. @default 30 */
  EXTEND_BY_S: envInt(30, 0, 3600),
  /** Bids per second per user. @default 20 */
  BID_RATE_LIMIT_PER_S: envInt(20, 1, 1_000_000),
  /** Dev tokens per minute per client IP. @default 30 */
  DEV_TOKEN_RATE_LIMIT_PER_MIN: envInt(30, 1, 1_000_000),
  /**
   * Lifetime of a dev token (its `exp`); clients renew before it ends. Short values let tests see
   * a live session outlast its first token. @default 43200
   */
  DEV_TOKEN_TTL_S: envInt(43_200, 5, 30 * 86_400),
  /** How long an Idempotency-Key answer is kept. @default 86400 */
  IDEMPOTENCY_TTL_S: envInt(86_400, 1, 30 * 86_400),
  /** Runs the outbox relay in this process (off for tests or a separate relay deployment). @default true */
  OUTBOX_RELAY: envBool(true),
  /** Bids are refused with 503 once this many events wait in the outbox (NATS down too long). @default 100000 */
  OUTBOX_MAX_PENDING: envInt(100_000, 1, 100_000_000),
  /** Entries read by the relay per round. @default 200 */
  OUTBOX_BATCH: envInt(200, 1, 10_000),
  /** An outbox entry pending this long on another consumer is taken over (its process died). @default 15000 */
  OUTBOX_CLAIM_IDLE_MS: envInt(15_000, 100, 3_600_000),
  /**
   * Under load the relay waits this long between rounds that were not full, so that one round
   * carries many events (fewer Redis round trips and NATS flushes per bid); an event after a
   * quiet spell goes at once. Adds at most this much to a bid's way to watchers. @default 3
   */
  OUTBOX_LINGER_MS: envInt(3, 0, 1000),
  /**
   * REDIS_CLUSTER only: the longest pause of the relay between rounds that found nothing (it
   * reads every partition without blocking, and pauses longer the longer it is quiet). Entries
   * this process writes wake it at once; this bounds how long another replica's wait. @default 250
   */
  OUTBOX_IDLE_POLL_MAX_MS: envInt(250, 10, 60_000),
  /** Fault injection for crash tests: the relay waits this long between publish and XACK/XDEL. @default 0 */
  OUTBOX_ACK_DELAY_MS: envInt(0, 0, 3_600_000),
  /** Runs the auction closer loop in this process. @default true */
  CLOSER: envBool(true),
  /** @default 250 */
  CLOSER_INTERVAL_MS: envInt(250, 10, 60_000),
  /** Optimistic strategy: attempts before answering 409 contention. @default 30 */
  OPTIMISTIC_MAX_RETRIES: envInt(30, 1, 1000),
  /** Optimistic strategy: dedicated Redis connections (WATCH needs one per transaction). @default 16 */
  OPTIMISTIC_CONNECTIONS: envInt(16, 1, 512),
  /** Per-command Redis timeout: a stuck Redis gives 503, never a hang. @default 1000 */
  REDIS_COMMAND_TIMEOUT_MS: envInt(1000, 50, 60_000),
  /**
   * A request whose headers and body have not all arrived this long after it started gets 408
   * and its connection is closed (slowloris). @default 10
   */
  REQUEST_TIMEOUT_S: envInt(10, 1, 3600),
  /** Largest accepted request body. @default 16384 */
  BODY_LIMIT_BYTES: envInt(16_384, 256, 10_000_000),
  /** Directory served at `/` (the web page); ignored when it does not exist. @default "<api>/public" */
  PUBLIC_DIR: z.string().optional(),
  /** Take the client IP from X-Forwarded-For (behind the ALB) for per-IP limits. @default false */
  TRUST_PROXY: envBool(false),
  /** @default 20000 */
  SHUTDOWN_TIMEOUT_MS: envInt(20_000, 0, 600_000),
} as const;

export type ApiConfig = z.infer<z.ZodObject<typeof apiEnv>>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const config = loadConfig(apiEnv, env);
  requireAuthSecret(config);
  requireRedisTopology(config);
  return config;
}

import { hostname } from 'node:os';
import { z } from 'zod';
import {
  commonEnv,
  envBool,
  envInt,
  envList,
  loadConfig,
  requireAuthSecret,
  requireRedisTopology,
} from '@gavel/shared';

/** Everything the broadcast gateway reads from its environment, validated once at start. */
export const broadcastEnv = {
  ...commonEnv,
  /** @default 8081 */
  PORT: envInt(8081, 0, 65535),
  /** @default "0.0.0.0" */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Browser Origins allowed to connect; empty allows every Origin (local). @default "" */
  ALLOWED_ORIGINS: envList(''),
  /** How long a draining replica waits for its clients to leave before closing. @default 30 */
  DRAIN_TIMEOUT_S: envInt(30, 0, 3600),
  /** Clients are told to reconnect after a random delay in [0, this], so they do not stampede. @default 2000 */
  RECONNECT_JITTER_MS: envInt(2000, 0, 600_000),
  /** Chat rooms plus watched items one connection may hold. @default 50 */
  MAX_ROOMS_PER_CONNECTION: envInt(50, 1, 10_000),
  /** chat and dm sends per second per connection. @default 5 */
  CHAT_RATE_PER_S: envInt(5, 1, 100_000),
  /** Client events of any kind per second per connection. @default 50 */
  EVENT_RATE_PER_S: envInt(50, 1, 1_000_000),
  /** Identifies this process in presence records, logs and the session greeting. @default "<hostname>-<pid>" */
  REPLICA_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,128}$/)
    .default(`${hostname()}-${process.pid}`),
  /** Deployment colour (blue/green), reported in logs and metrics. */
  BROADCAST_COLOR: z.enum(['blue', 'green']).optional(),
  /** A replica that stops heartbeating is presumed dead after this long; its presence is swept. @default 15 */
  PRESENCE_TTL_S: envInt(15, 2, 3600),
  /** Accepted bids kept in memory per watched item, so re-watches replay without JetStream. @default 10000 */
  FEED_HISTORY: envInt(10_000, 10, 1_000_000),
  /**
   * A subject no local client wants any more stays subscribed this long, so that a quick
   * re-watch or re-join does not read the stream again. @default 30000
   */
  FEED_LINGER_MS: envInt(30_000, 0, 3_600_000),
  /**
   * A client (`/ws` or Socket.IO) whose unsent bytes exceed this is disconnected: it is not
   * reading. It resumes with afterSeq / afterCursor on reconnect. @default 4194304
   */
  WS_MAX_BUFFERED_BYTES: envInt(4 * 1024 * 1024, 16_384, 1024 * 1024 * 1024),
  /**
   * `/ws` clients are pinged this often and cut if the previous ping got no pong (Socket.IO
   * has the same heartbeat built in: 25 s, 20 s timeout). @default 25
   */
  WS_PING_INTERVAL_S: envInt(25, 1, 3600),
  /** An HTTP request (a polling request, a WebSocket upgrade) must arrive whole within this. @default 10 */
  REQUEST_TIMEOUT_S: envInt(10, 1, 3600),
  /**
   * Live connections of one user, both transports, counted across replicas (in Redis); the next
   * is refused (Socket.IO `too_many_connections`, `/ws` 429). @default 20
   */
  MAX_CONNECTIONS_PER_USER: envInt(20, 1, 1_000_000),
  /** Live connections from one client address, counted the same way. @default 200 */
  MAX_CONNECTIONS_PER_ADDRESS: envInt(200, 1, 10_000_000),
  /**
   * A private room's member list is trusted this long without a change being announced (the
   * api's room events act at once); private rooms with local members are read again this often,
   * in case an event was missed. @default 10
   */
  ROOM_ACCESS_RECHECK_S: envInt(10, 1, 3600),
  /** Take the client address from X-Forwarded-For (behind the ALB) for the per-address cap. @default false */
  TRUST_PROXY: envBool(false),
} as const;

export type BroadcastConfig = z.infer<z.ZodObject<typeof broadcastEnv>>;

export function loadBroadcastConfig(env: NodeJS.ProcessEnv = process.env): BroadcastConfig {
  const config = loadConfig(broadcastEnv, env);
  requireAuthSecret(config);
  requireRedisTopology(config);
  return config;
}

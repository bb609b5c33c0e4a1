import { z } from 'zod';
import { commonEnv, envBool, envInt, loadConfig } from '@gavel/shared';

/** The echo server's environment, checked once at start. */
export const echoServerEnv = {
  LOG_LEVEL: commonEnv.LOG_LEVEL,
  LOG_FORMAT: commonEnv.LOG_FORMAT,
  PORT: envInt(8090, 0, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Also serve the Socket.IO `/echo` namespace, to measure Socket.IO's own cost beside raw ws. */
  SOCKETIO_ECHO: envBool(true),
  /** Largest frame accepted, in bytes; larger frames close the connection (1009). */
  MAX_PAYLOAD: envInt(1024 * 1024, 64, 64 * 1024 * 1024),
  /** How long a shutdown waits for clients to go before closing them. */
  DRAIN_TIMEOUT_MS: envInt(5000, 0, 120_000),
} as const;

export type EchoServerConfig = ReturnType<typeof loadEchoServerConfig>;

export function loadEchoServerConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(echoServerEnv, env);
}

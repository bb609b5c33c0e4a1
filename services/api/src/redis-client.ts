import { Redis, type RedisOptions } from 'ioredis';

/**
 * No offline queue and a short command timeout: while Redis is unreachable a command fails at
 * once (503 to the client) instead of waiting for a reconnect.
 */
export function createRedis(url: string, commandTimeoutMs: number, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    lazyConnect: false,
    ...extra,
  });
}

/** Waits until the client is ready, or gives up quietly: readiness is reported by /readyz. */
export async function waitReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs, false);
    function done(ok: boolean) {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ok);
    }
    function onReady() {
      done(true);
    }
    redis.on('ready', onReady);
  });
}

/** True when the error means Redis could not be reached or did not answer in time. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return /Stream isn't writeable|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|enableOfflineQueue|MaxRetriesPerRequest|LOADING|READONLY|CLUSTERDOWN/i.test(
    err.message,
  );
}

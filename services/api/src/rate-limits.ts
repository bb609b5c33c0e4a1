import type { RedisClient } from './redis-client.js';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

export type LimitResult = { ok: true } | { ok: false; retryAfterS: number };

/**
 * Fixed-window counters in Redis, shared by every replica. The per-user bid limit is not here:
 * the bid itself counts it in Redis (bid-strategies), after its Idempotency-Key replay, so that
 * a bid costs one round trip and a replay never counts.
 */
export function createRateLimits(
  redis: RedisClient,
  options: { keyPrefix: string; devTokensPerMinute: number },
) {
  const devTokens = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${options.keyPrefix}:devtoken`,
    points: options.devTokensPerMinute,
    duration: 60,
  });

  async function consume(limiter: RateLimiterRedis, key: string): Promise<LimitResult> {
    try {
      await limiter.consume(key);
      return { ok: true };
    } catch (rejection) {
      // The limiter rejects with its result when over the limit, and with an Error when Redis fails.
      if (rejection instanceof RateLimiterRes) {
        return { ok: false, retryAfterS: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
      }
      throw rejection;
    }
  }

  return {
    /** Per client IP. */
    devToken: (ip: string) => consume(devTokens, ip),
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;

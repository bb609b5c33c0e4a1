import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

export type LimitResult = { ok: true } | { ok: false; retryAfterS: number };

/** Fixed-window counters in Redis, shared by every replica. */
export function createRateLimits(
  redis: Redis,
  options: { keyPrefix: string; bidsPerSecond: number; devTokensPerMinute: number },
) {
  const bids = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${options.keyPrefix}:bid`,
    points: options.bidsPerSecond,
    duration: 1,
  });
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
    /** Per user. */
    bid: (userId: string) => consume(bids, userId),
    /** Per client IP. */
    devToken: (ip: string) => consume(devTokens, ip),
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;

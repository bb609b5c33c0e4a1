import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';
import fastifyStatic from '@fastify/static';
import { createLogger, createRegistry, registerOpsRoutes, topologyOf, type Logger } from '@gavel/shared';
import type { ApiConfig } from './config.js';
import { createApiMetrics } from './api-metrics.js';
import { AuctionCloser } from './auction-closer.js';
import { createLuaStrategy } from './bid-strategies/lua.js';
import { createOptimisticStrategy } from './bid-strategies/optimistic.js';
import type { BidStrategy } from './bid-strategies/rules.js';
import { createHistoryRepository } from './history-repository.js';
import { DependencyUnavailableError, sendError } from './http-errors.js';
import { createItemsRepository } from './items-repository.js';
import { OutboxRelay } from './outbox-relay.js';
import { createRateLimits } from './rate-limits.js';
import { createRedis, isRedisUnavailable, waitReady } from './redis-client.js';
import { redisKeys } from './redis-keys.js';
import { createAuthenticator } from './request-auth.js';
import { registerBidRoutes } from './routes/bids.js';
import { registerDevTokenRoute } from './routes/dev-token.js';
import { registerHealthRoute } from './routes/health.js';
import { registerHistoryRoutes } from './routes/history.js';
import { registerItemRoutes } from './routes/items.js';
import type { RouteDeps } from './routes/route-deps.js';

export interface AppDeps {
  /** @default a pino logger at LOG_LEVEL */
  readonly logger?: Logger;
}

export interface Api {
  readonly app: FastifyInstance;
  /** The relay of this process, if OUTBOX_RELAY=true. */
  readonly relay: OutboxRelay | null;
  /** Stops background loops, closes the server and every connection. */
  close(): Promise<void>;
}

const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url));

/** Builds the api: connections, strategy, routes, and its background loops (relay, closer). */
export async function buildApp(config: ApiConfig, deps: AppDeps = {}): Promise<Api> {
  const logger = deps.logger ?? createLogger('api', config.LOG_LEVEL);
  const keys = redisKeys(config.REDIS_PREFIX);
  const topology = topologyOf(config);
  const redisUrl = config.REDIS_URL;
  const redis = createRedis(redisUrl, config.REDIS_COMMAND_TIMEOUT_MS);
  redis.on('error', (err) => logger.debug({ err }, 'redis error'));
  let draining = false;

  const registry = createRegistry('api');
  const metrics = createApiMetrics(registry, () => redis.xlen(keys.outbox));

  const ruleOptions = {
    keys,
    autoOpen: config.AUTO_OPEN_ITEMS,
    autoOpenDurationMs: config.AUTO_OPEN_DURATION_S * 1000,
    extendWindowMs: config.EXTEND_WINDOW_S * 1000,
    extendByMs: config.EXTEND_BY_S * 1000,
    idempotencyTtlS: config.IDEMPOTENCY_TTL_S,
    outboxMaxPending: config.OUTBOX_MAX_PENDING,
  };
  const strategy: BidStrategy =
    config.BID_STRATEGY === 'lua'
      ? createLuaStrategy(redis, ruleOptions)
      : createOptimisticStrategy({
          ...ruleOptions,
          maxRetries: config.OPTIMISTIC_MAX_RETRIES,
          connections: config.OPTIMISTIC_CONNECTIONS,
          onRetry: () => metrics.optimisticRetries.inc(),
          connect: () => {
            const c = createRedis(redisUrl, config.REDIS_COMMAND_TIMEOUT_MS);
            c.on('error', () => undefined);
            return c;
          },
        });

  const history = createHistoryRepository(config.DATABASE_URL);
  const routeDeps: RouteDeps = {
    config,
    keys,
    items: createItemsRepository(redis, keys),
    strategy,
    history,
    rateLimits: createRateLimits(redis, {
      keyPrefix: keys.rateLimitPrefix,
      bidsPerSecond: config.BID_RATE_LIMIT_PER_S,
      devTokensPerMinute: config.DEV_TOKEN_RATE_LIMIT_PER_MIN,
    }),
    authenticate: createAuthenticator(config),
    metrics,
  };

  // Start once Redis is there, if it comes quickly; otherwise /readyz says so and the loops retry.
  await waitReady(redis, 2000);

  // Background loops: each replica runs them; they coordinate through Redis.
  const loops = new AbortController();
  const running: Promise<void>[] = [];
  let relay: OutboxRelay | null = null;
  let relayRedis: ReturnType<typeof createRedis> | null = null;
  if (config.OUTBOX_RELAY) {
    const blockMs = 1000;
    relayRedis = createRedis(redisUrl, blockMs + 2000);
    relayRedis.on('error', () => undefined);
    await waitReady(relayRedis, 2000);
    relay = new OutboxRelay(relayRedis, {
      keys,
      topology,
      natsUrl: config.NATS_URL,
      logger,
      batch: config.OUTBOX_BATCH,
      claimIdleMs: config.OUTBOX_CLAIM_IDLE_MS,
      ackDelayMs: config.OUTBOX_ACK_DELAY_MS,
      blockMs,
      onPublish: (result, n) => metrics.relayPublished.inc({ result }, n),
    });
    running.push(relay.run(loops.signal));
  }
  if (config.CLOSER) {
    const closer = new AuctionCloser(redis, {
      keys,
      intervalMs: config.CLOSER_INTERVAL_MS,
      logger,
      onClosed: () => metrics.itemsClosed.inc(),
    });
    running.push(closer.run(loops.signal));
  }

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    // One line per request would dominate the logs under load; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.TRUST_PROXY,
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof DependencyUnavailableError || isRedisUnavailable(err)) {
      const dependency = err instanceof DependencyUnavailableError ? err.dependency : 'redis';
      request.log.warn({ err }, `${dependency} unavailable`);
      reply.header('retry-after', '1');
      return sendError(reply, 503, 'dependency_unavailable', `${dependency} is unavailable; retry shortly`);
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code =
        status === 413
          ? 'payload_too_large'
          : status === 415
            ? 'unsupported_media_type'
            : /JSON/i.test(err.code ?? '') || err instanceof SyntaxError
              ? 'invalid_json'
              : 'bad_request';
      return sendError(reply, status, code, err.message);
    }
    request.log.error({ err }, 'unhandled error');
    return sendError(reply, 500, 'internal_error', 'internal error');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
  );

  const checks = {
    redis: () => redis.ping(),
    ...(relay ? { nats: () => relay.checkNats() } : {}),
    postgres: () => history.ping(),
  };
  registerOpsRoutes(app, { registry, checks: { redis: checks.redis }, isDraining: () => draining });
  registerHealthRoute(app, { checks, strategy: strategy.name, authMode: config.AUTH_MODE });
  registerItemRoutes(app, routeDeps);
  registerBidRoutes(app, routeDeps);
  registerHistoryRoutes(app, routeDeps);
  if (config.DEV_TOKENS) registerDevTokenRoute(app, routeDeps);

  const publicDir = config.PUBLIC_DIR ?? DEFAULT_PUBLIC_DIR;
  if (existsSync(publicDir)) await app.register(fastifyStatic, { root: publicDir, prefix: '/' });

  let closed: Promise<void> | null = null;
  return {
    app,
    relay,
    close() {
      closed ??= (async () => {
        draining = true;
        await app.close();
        loops.abort();
        await Promise.allSettled(running);
        await strategy.close();
        await history.close().catch(() => undefined);
        await redis.quit().catch(() => redis.disconnect());
        relayRedis?.disconnect();
      })();
      return closed;
    },
  };
}

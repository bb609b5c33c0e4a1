import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';
import fastifyStatic from '@fastify/static';
import {
  createLogger,
  createRegistry,
  registerOpsRoutes,
  requestDeadlineOptions,
  topologyOf,
  trackArrivingRequests,
  type Logger,
} from '@gavel/shared';
import type { ApiConfig } from './config.js';
import { createApiMetrics } from './api-metrics.js';
import { registerApiDocs } from './api-docs.js';
import { AuctionCloser } from './auction-closer.js';
import { createLuaStrategy } from './bid-strategies/lua.js';
import { createOptimisticStrategy } from './bid-strategies/optimistic.js';
import type { BidStrategy } from './bid-strategies/rules.js';
import { createHistoryRepository } from './history-repository.js';
import { DependencyUnavailableError, OutcomeUnknownError, sendError, sendInvalid } from './http-errors.js';
import { createItemsRepository } from './items-repository.js';
import { OutboxRelay } from './outbox-relay.js';
import { createRateLimits } from './rate-limits.js';
import { createRedis, isRedisUnavailable, outboxDepth, waitReady } from './redis-client.js';
import { redisKeys } from './redis-keys.js';
import { createAuthenticator } from './request-auth.js';
import { createRoomsRepository } from './rooms-repository.js';
import { opsRouteSchemas } from './schemas.js';
import { registerBidRoutes } from './routes/bids.js';
import { registerDevTokenRoute } from './routes/dev-token.js';
import { registerHealthRoute } from './routes/health.js';
import { registerHistoryRoutes } from './routes/history.js';
import { registerItemRoutes } from './routes/items.js';
import { registerRoomRoutes } from './routes/rooms.js';
import type { RouteDeps } from './routes/route-deps.js';
import { registerSecurityHeaders } from './security-headers.js';

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
// From src/ or dist/ alike, the package's own manifest is one level up.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Builds the api: connections, strategy, routes, and its background loops (relay, closer). */
export async function buildApp(config: ApiConfig, deps: AppDeps = {}): Promise<Api> {
  const logger = deps.logger ?? createLogger('api', config.LOG_LEVEL);
  const keys = redisKeys(config.REDIS_PREFIX, { cluster: config.REDIS_CLUSTER });
  const topology = topologyOf(config);
  const commandTimeoutMs = config.REDIS_COMMAND_TIMEOUT_MS;
  // Auto-pipelining: commands issued in the same event-loop turn leave in one write.
  const redis = createRedis(config, { commandTimeoutMs, autoPipelining: true });
  redis.on('error', (err) => logger.debug({ err }, 'redis error'));
  let draining = false;

  const registry = createRegistry('api');
  const metrics = createApiMetrics(registry, () => outboxDepth(redis, keys));

  const ruleOptions = {
    keys,
    autoOpen: config.AUTO_OPEN_ITEMS,
    autoOpenDurationMs: config.AUTO_OPEN_DURATION_S * 1000,
    extendWindowMs: config.EXTEND_WINDOW_S * 1000,
    extendByMs: config.EXTEND_BY_S * 1000,
    idempotencyTtlS: config.IDEMPOTENCY_TTL_S,
    outboxMaxPending: config.OUTBOX_MAX_PENDING,
    bidsPerSecond: config.BID_RATE_LIMIT_PER_S,
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
            const c = createRedis(config, { commandTimeoutMs });
            c.on('error', () => undefined);
            return c;
          },
        });

  const history = createHistoryRepository(config.DATABASE_URL);
  const routeDeps: RouteDeps = {
    config,
    keys,
    items: createItemsRepository(redis, keys),
    rooms: createRoomsRepository(redis, {
      keys,
      redisPrefix: config.REDIS_PREFIX,
      outboxMaxPending: config.OUTBOX_MAX_PENDING,
    }),
    strategy,
    history,
    rateLimits: createRateLimits(redis, {
      keyPrefix: keys.rateLimitPrefix,
      devTokensPerMinute: config.DEV_TOKEN_RATE_LIMIT_PER_MIN,
    }),
    authenticate: createAuthenticator(config),
    metrics,
    outboxWritten: () => relay?.wake(),
  };

  // Start once Redis is there, if it comes quickly; otherwise /readyz says so and the loops retry.
  await waitReady(redis, 2000);
  await strategy.ready?.(2000);

  // Background loops: each replica runs them; they coordinate through Redis.
  const loops = new AbortController();
  const running: Promise<void>[] = [];
  let relay: OutboxRelay | null = null;
  let relayRedis: ReturnType<typeof createRedis> | null = null;
  if (config.OUTBOX_RELAY) {
    const blockMs = 1000;
    // A cluster's relay reads every partition's stream in each round without blocking:
    // auto-pipelining sends those reads in one write per node.
    relayRedis = createRedis(config, {
      commandTimeoutMs: blockMs + 2000,
      autoPipelining: config.REDIS_CLUSTER,
    });
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
      lingerMs: config.OUTBOX_LINGER_MS,
      idlePollMaxMs: config.OUTBOX_IDLE_POLL_MAX_MS,
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
    ...requestDeadlineOptions(config.REQUEST_TIMEOUT_S),
  });
  const cutArrivingRequests = trackArrivingRequests(app);

  await registerApiDocs(app, { version });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    // A route that lets Fastify answer its schema's failures (no attachValidation).
    if (err.validation) return sendInvalid(reply, err);
    if (err instanceof OutcomeUnknownError) {
      request.log.warn({ err }, 'redis did not answer a write');
      reply.header('retry-after', '1');
      return sendError(
        reply,
        503,
        'outcome_unknown',
        'redis did not answer: the request may or may not have been applied; retry with the same Idempotency-Key to learn which',
      );
    }
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

  registerSecurityHeaders(app);

  const checks = {
    redis: () => redis.ping(),
    ...(relay ? { nats: () => relay.checkNats() } : {}),
    postgres: () => history.ping(),
  };
  registerOpsRoutes(app, {
    registry,
    checks: { redis: checks.redis },
    isDraining: () => draining,
    schemas: opsRouteSchemas,
  });
  registerHealthRoute(app, { checks, strategy: strategy.name, authMode: config.AUTH_MODE });
  registerItemRoutes(app, routeDeps);
  registerBidRoutes(app, routeDeps);
  registerRoomRoutes(app, routeDeps);
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
        // Requests still arriving (a slow client) are cut; those being answered finish.
        cutArrivingRequests();
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

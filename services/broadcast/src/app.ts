import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import {
  connectNats,
  ensureStreams,
  registerOpsRoutes,
  topologyOf,
  type Logger,
  type Topology,
} from '@gavel/shared';
import { createAuthenticator, originAllowed } from './auth.js';
import { ClientCommands } from './client-commands.js';
import type { BroadcastConfig } from './config.js';
import { LocalConnections } from './connections.js';
import { startEventConsumer } from './event-consumer.js';
import { ItemFeeds } from './item-feeds.js';
import { createBroadcastMetrics } from './metrics.js';
import { Presence } from './presence.js';
import { RoomBus } from './room-bus.js';
import { attachSocketIoGateway, syncSocketRoom } from './socketio-gateway.js';
import { StreamReader } from './stream-reader.js';
import { MAX_FRAME_BYTES, attachWsGateway } from './ws-gateway.js';

export interface BroadcastApp {
  readonly app: FastifyInstance;
  readonly io: Server;
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  /**
   * Graceful drain: readiness false, every client told to reconnect elsewhere (with jitter),
   * wait up to DRAIN_TIMEOUT_S for them to leave, then close everything.
   */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the gateway: connects Redis and NATS, wires Socket.IO and /ws onto Fastify's server. */
export async function buildBroadcastApp(config: BroadcastConfig, logger: Logger): Promise<BroadcastApp> {
  const topology: Topology = topologyOf(config);
  const keyPrefix = `${config.REDIS_PREFIX}broadcast:`;
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 });
  const redisSub = redis.duplicate();
  const adapterRedis = redis.duplicate();
  // ioredis reconnects by itself; without a listener every blip would be an "unhandled error".
  for (const [role, client] of [
    ['commands', redis],
    ['subscriber', redisSub],
    ['adapter', adapterRedis],
  ] as const) {
    client.on('error', (err: Error) => logger.warn({ role, err: err.message }, 'redis error'));
  }
  const nc = await connectNats(config.NATS_URL, `broadcast-${config.REPLICA_ID}`);
  const jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, topology);
  const js = nc.jetstream();

  let draining = false;
  const local = new LocalConnections();
  const reader = new StreamReader(js, jsm, topology.stream);
  // itemFeeds is read at scrape time, after it exists.
  const metrics = createBroadcastMetrics(local, {
    draining: () => draining,
    itemFeeds: () => itemFeeds.size,
  });
  const itemFeeds = new ItemFeeds({
    reader,
    topology,
    historySize: config.FEED_HISTORY,
    metrics,
    logger,
    lingerMs: 30_000,
    // Local only: each replica delivers bids to its own watchers (never through Redis).
    emitToGroup: (name, event, payload) => io.local.to(name).emit(event, payload),
  });

  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
  });
  registerOpsRoutes(app, {
    registry: metrics.registry,
    checks: { redis: () => redis.ping(), nats: () => nc.flush() },
    isDraining: () => draining,
  });

  const io = new Server(app.server, {
    path: '/socket.io',
    maxHttpBufferSize: MAX_FRAME_BYTES,
    // /ws upgrades are ours; engine.io must not close them.
    destroyUpgrade: false,
    cors: {
      origin: config.ALLOWED_ORIGINS.length === 0 ? true : [...config.ALLOWED_ORIGINS],
      credentials: true,
    },
    allowRequest: (req, callback) => {
      if (draining) return callback('draining', false);
      callback(null, originAllowed(config.ALLOWED_ORIGINS, req.headers.origin));
    },
    connectionStateRecovery: { maxDisconnectionDuration: config.RECOVERY_WINDOW_MS, skipMiddlewares: false },
    adapter: createAdapter(adapterRedis, {
      streamName: `${keyPrefix}socket.io`,
      sessionKeyPrefix: `${keyPrefix}sio:session:`,
      channelPrefix: `${keyPrefix}socket.io`,
      maxLen: 100_000,
    }),
  });

  const bus = new RoomBus(io, redis, redisSub, `${keyPrefix}ws-bus`, local, metrics, logger);
  const presence = new Presence({
    redis,
    prefix: keyPrefix,
    replicaId: config.REPLICA_ID,
    ttlMs: config.PRESENCE_TTL_S * 1000,
    logger,
    onSweptLeave: (roomId, userId) =>
      void bus.emit({ room: roomId }, 'presence', { roomId, userId, state: 'leave' }).catch(() => undefined),
  });
  const commands = new ClientCommands({
    js,
    topology,
    reader,
    feeds: itemFeeds,
    local,
    presence,
    bus,
    metrics,
    logger,
    maxRoomsPerConnection: config.MAX_ROOMS_PER_CONNECTION,
    chatRatePerS: config.CHAT_RATE_PER_S,
    eventRatePerS: config.EVENT_RATE_PER_S,
    // A room joined with a cursor is served by the bus, not the adapter (see RoomBus).
    onRoomChange: (conn, roomId, joined) =>
      syncSocketRoom(io, conn, roomId, joined && !bus.serves(conn, roomId)),
  });

  const authenticate = createAuthenticator(config);
  attachSocketIoGateway({
    io,
    authenticate,
    commands,
    local,
    metrics,
    logger,
    replicaId: config.REPLICA_ID,
    color: config.BROADCAST_COLOR,
  });
  const wss = attachWsGateway({
    server: app.server,
    authenticate,
    commands,
    local,
    metrics,
    logger,
    allowedOrigins: config.ALLOWED_ORIGINS,
    maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
    isDraining: () => draining,
  });

  await bus.start();
  await presence.start();
  const consumer = await startEventConsumer({
    js,
    topology,
    metrics,
    logger,
    onEvent: (e) => itemFeeds.onEvent(e),
  });

  let closed = false;
  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    draining = true;
    for (const conn of [...local.all.values()]) await commands.disconnected(conn);
    await consumer.stop().catch(() => undefined);
    itemFeeds.close();
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((r) => io.close(() => r()));
    await app.close().catch(() => undefined);
    await presence.stop().catch(() => undefined);
    await nc.drain().catch(() => undefined);
    redisSub.disconnect();
    adapterRedis.disconnect();
    await redis.quit().catch(() => undefined);
  }

  return {
    app,
    io,
    async listen() {
      await app.listen({ port: config.PORT, host: config.HOST });
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : config.PORT;
    },
    async drain() {
      draining = true;
      const total = local.all.size;
      logger.info({ connections: total, timeoutS: config.DRAIN_TIMEOUT_S }, 'draining');
      for (const conn of local.all.values()) {
        conn.send('server:draining', {
          reconnectInMs: Math.floor(Math.random() * (config.RECONNECT_JITTER_MS + 1)),
        });
      }
      const deadline = Date.now() + config.DRAIN_TIMEOUT_S * 1000;
      while (local.all.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      logger.info({ left: total - local.all.size, remaining: local.all.size }, 'drain finished');
      // Stragglers: closing the transport (not a namespace disconnect) keeps their session
      // recoverable on another replica.
      for (const conn of [...local.all.values()]) conn.close('drain timeout');
      await close();
    },
    close,
  };
}

import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Events } from 'nats';
import { Server } from 'socket.io';
import {
  MAX_CHAT_REPLAY,
  MAX_FRAME_BYTES,
  broadcastKeyPrefix,
  connectNats,
  connectRedis,
  ensureStreams,
  JetStreamPublisher,
  liveRepublishOf,
  registerOpsRoutes,
  requestDeadlineOptions,
  subjects,
  topologyOf,
  trackArrivingRequests,
  type Logger,
  type Topology,
} from '@gavel/shared';
import { createAuthenticator, createTokenRefresher, originAllowed } from './auth.js';
import { ClientCommands } from './client-commands.js';
import type { BroadcastConfig } from './config.js';
import { ConnectionLimits } from './connection-limits.js';
import { Frame } from './connection.js';
import { DmLedger } from './dm-ledger.js';
import { Interests } from './interests.js';
import { consumerSource, republishSource } from './live-source.js';
import { createBroadcastMetrics } from './metrics.js';
import { Presence } from './presence.js';
import { RoomAccess } from './room-access.js';
import { SessionLifetimes } from './session-lifetimes.js';
import { attachSocketIoGateway, type GavelServer } from './socketio-gateway.js';
import { StreamReader } from './stream-reader.js';
import { StreamWriter } from './stream-writer.js';
import { attachWsGateway } from './ws-gateway.js';

export interface BroadcastApp {
  readonly app: FastifyInstance;
  readonly io: GavelServer;
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  /**
   * Graceful drain: readiness false, every client told to reconnect elsewhere (with jitter),
   * wait up to DRAIN_TIMEOUT_S for them to leave, then close everything.
   */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Most events of a user's DM feed one device catches up on at connect. */
const MAX_DM_CATCH_UP = 5000;

/**
 * Room records remembered (see room-access.ts). A public room's entry is a few bytes; a private
 * one holds its member list (at most MAX_ROOM_MEMBERS ids).
 */
const ROOM_ACCESS_CACHE_ROOMS = 5000;

/** Builds the gateway: connects Redis and NATS, wires Socket.IO and /ws onto Fastify's server. */
export async function buildBroadcastApp(config: BroadcastConfig, logger: Logger): Promise<BroadcastApp> {
  const topology: Topology = topologyOf(config);
  const keyPrefix = broadcastKeyPrefix(config.REDIS_PREFIX);
  const redis = connectRedis(config, { redis: { maxRetriesPerRequest: 2 } });
  // ioredis reconnects by itself; without a listener every blip would be an "unhandled error".
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis error'));
  const nc = await connectNats(config.NATS_URL, `broadcast-${config.REPLICA_ID}`);
  const jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, topology);
  const js = nc.jetstream();

  let draining = false;
  const reader = new StreamReader(js, jsm, topology.stream);
  // A client's chat or DM is answered once JetStream stored it (as nats.js's default, 5 s at most).
  const publisher = new JetStreamPublisher(nc, 5000);
  const writer = new StreamWriter(publisher, topology, reader);
  // Read at scrape time, after they exist.
  const metrics = createBroadcastMetrics({
    replica: config.REPLICA_ID,
    // A replica outside the blue/green pair (a single local one) says so.
    color: config.BROADCAST_COLOR ?? 'none',
    draining: () => draining,
    interests: () => interests,
    natsInMessages: () => nc.stats().inMsgs,
  });
  const republished = await liveRepublishOf(jsm, topology);
  if (!republished) {
    logger.warn(
      { stream: topology.stream },
      'the stream does not republish its events (created on nats-server 2.9 without RePublish): ' +
        'subscribing with one ordered consumer per subject instead; recreate the stream, or update ' +
        'it on nats-server >= 2.10, to subscribe by core NATS interest',
    );
  }
  const sourceDeps = { nc, js, topology, metrics, logger };
  const source = republished ? republishSource(sourceDeps) : consumerSource(sourceDeps);

  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    ...requestDeadlineOptions(config.REQUEST_TIMEOUT_S),
  });
  const cutArrivingRequests = trackArrivingRequests(app);
  registerOpsRoutes(app, {
    registry: metrics.registry,
    checks: { redis: () => redis.ping(), nats: () => nc.flush() },
    isDraining: () => draining,
  });

  // No adapter and no connection-state recovery: every replica serves its own clients from the
  // stream, and a client resumes on any replica by afterSeq / afterCursor / its device position.
  const io: GavelServer = new Server(app.server, {
    path: '/socket.io',
    maxHttpBufferSize: MAX_FRAME_BYTES,
    // The heartbeat that drops a client which stops reading (stated: it is what we rely on).
    pingInterval: 25_000,
    pingTimeout: 20_000,
    // A handshake must complete (namespace connect, auth) within the request deadline.
    connectTimeout: config.REQUEST_TIMEOUT_S * 1000,
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
  });

  const ledger = new DmLedger(redis, keyPrefix);
  // The registry and presence call into the commands (built below) for DM bookkeeping and
  // announcements; only once events flow, after construction.
  const interests: Interests = new Interests({
    source,
    reader,
    topology,
    metrics,
    logger,
    historySize: config.FEED_HISTORY,
    chatReplayLimit: MAX_CHAT_REPLAY,
    dmReplayLimit: MAX_DM_CATCH_UP,
    lingerMs: config.FEED_LINGER_MS,
    onDmSent: (conn, event, cursor) => commands.dmSent(conn, event, cursor),
    skipDm: (conn, event) => commands.skipDm(conn, event),
  });
  const presence = new Presence({
    redis,
    prefix: keyPrefix,
    replicaId: config.REPLICA_ID,
    ttlMs: config.PRESENCE_TTL_S * 1000,
    logger,
    onSweptLeave: (roomId, userId) => void commands.announce(roomId, userId, 'leave'),
  });
  const access = new RoomAccess({
    redis,
    redisPrefix: config.REDIS_PREFIX,
    cluster: config.REDIS_CLUSTER,
    ttlMs: config.ROOM_ACCESS_RECHECK_S * 1000,
    maxRooms: ROOM_ACCESS_CACHE_ROOMS,
  });
  const lifetimes = new SessionLifetimes({ refresh: createTokenRefresher(config), metrics, logger });
  const limits = new ConnectionLimits({
    redis,
    prefix: keyPrefix,
    replicaId: config.REPLICA_ID,
    maxPerUser: config.MAX_CONNECTIONS_PER_USER,
    maxPerAddress: config.MAX_CONNECTIONS_PER_ADDRESS,
    ttlMs: config.PRESENCE_TTL_S * 1000,
    logger,
  });
  const commands = new ClientCommands({
    interests,
    writer,
    presence,
    access,
    lifetimes,
    ledger,
    limits,
    topology,
    metrics,
    logger,
    maxRoomsPerConnection: config.MAX_ROOMS_PER_CONNECTION,
    chatRatePerS: config.CHAT_RATE_PER_S,
    eventRatePerS: config.EVENT_RATE_PER_S,
  });

  const authenticate = createAuthenticator(config);
  attachSocketIoGateway({
    io,
    authenticate,
    limits,
    trustProxy: config.TRUST_PROXY,
    commands,
    metrics,
    logger,
    replicaId: config.REPLICA_ID,
    color: config.BROADCAST_COLOR,
  });
  const wss = attachWsGateway({
    server: app.server,
    authenticate,
    limits,
    trustProxy: config.TRUST_PROXY,
    commands,
    metrics,
    logger,
    allowedOrigins: config.ALLOWED_ORIGINS,
    maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
    pingIntervalMs: config.WS_PING_INTERVAL_S * 1000,
    isDraining: () => draining,
    replicaId: config.REPLICA_ID,
    color: config.BROADCAST_COLOR,
  });

  await presence.start();
  await limits.start();

  // Who may see which room changes by the api's events: one subscription for every room (they
  // are few), acted on as they arrive. A member removed while connected is out of the room
  // before any later event of it is delivered here.
  const accessEvents = await source.subscribe(subjects(topology).allRoomAccess, ({ event }) => {
    if (
      event.type === 'room.created' ||
      event.type === 'room.member_added' ||
      event.type === 'room.member_removed'
    )
      commands.roomAccessChanged(event);
  });
  // And in case an event was lost: the private rooms here are read again once their records age.
  const accessRecheck = setInterval(() => {
    void commands.recheckRooms({ all: false });
  }, config.ROOM_ACCESS_RECHECK_S * 1000);
  accessRecheck.unref();

  // Clients whose unsent bytes pile up are not reading: cut them (each transport's own writes
  // check too, but a group emit or a quiet feed would not notice).
  const slowConsumers = setInterval(() => {
    for (const conn of interests.connections) {
      if (conn.bufferedBytes() <= config.WS_MAX_BUFFERED_BYTES) continue;
      metrics.drops.inc({ reason: 'slow_consumer' });
      conn.drop('slow consumer');
    }
  }, 1000);
  slowConsumers.unref();

  // Core NATS drops what is published while the connection is down: after each reconnect (its
  // subscriptions are back once a flush returns) every feed reads what was stored meanwhile.
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== Events.Reconnect) continue;
      await nc.flush().catch(() => undefined);
      interests.catchUp();
      // Room events published meanwhile were not heard: every room here is decided again.
      void commands.recheckRooms({ all: true });
    }
  })().catch((err: unknown) => logger.warn({ err }, 'nats status watch ended'));

  let closed = false;
  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    draining = true;
    clearInterval(slowConsumers);
    clearInterval(accessRecheck);
    accessEvents.close();
    for (const conn of [...interests.connections]) await commands.disconnected(conn);
    interests.close();
    await ledger.flush().catch(() => undefined);
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    cutArrivingRequests();
    await new Promise<void>((r) => io.close(() => r()));
    await app.close().catch(() => undefined);
    await presence.stop().catch(() => undefined);
    await limits.stop();
    publisher.close();
    await nc.drain().catch(() => undefined);
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
      const total = interests.connectionCount;
      logger.info({ connections: total, timeoutS: config.DRAIN_TIMEOUT_S }, 'draining');
      for (const conn of interests.connections) {
        conn.send(
          new Frame('server:draining', {
            reconnectInMs: Math.floor(Math.random() * (config.RECONNECT_JITTER_MS + 1)),
          }),
        );
      }
      const deadline = Date.now() + config.DRAIN_TIMEOUT_S * 1000;
      while (interests.connectionCount > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const remaining = interests.connectionCount;
      logger.info({ left: total - remaining, remaining }, 'drain finished');
      // Stragglers: their clients reconnect elsewhere and resume from what they have.
      for (const conn of [...interests.connections]) conn.close('drain timeout');
      await close();
    },
    close,
  };
}

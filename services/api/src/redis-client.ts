import { ReplyError, type ChainableCommander, type RedisOptions } from 'ioredis';
import { connectRedis, isCluster, type RedisConnection, type RedisTarget } from '@gavel/shared';
import { DependencyUnavailableError, OutcomeUnknownError } from './http-errors.js';
import type { RedisKeys } from './redis-keys.js';

/** A single-node or a cluster client: the api uses only what both offer. */
export type RedisClient = RedisConnection;

export interface RedisClientOptions {
  readonly commandTimeoutMs: number;
  /** Commands issued in the same event-loop turn leave in one write (per node). @default false */
  readonly autoPipelining?: boolean;
}

/**
 * No offline queue and a short command timeout: while Redis is unreachable a command fails at
 * once (503 to the client) instead of waiting for a reconnect. A command that was sent but not
 * answered when the connection dropped is never sent again after the reconnect
 * (autoResendUnfulfilledCommands off): a bid must not be placed behind the back of a client
 * that was told its outcome is unknown.
 *
 * In a cluster the same holds per node, and the cluster client does not retry a command whose
 * connection closed (retryDelayOnFailover 0: it may have run on the primary that died) nor one
 * refused with CLUSTERDOWN (the client gets its 503 now). It does follow MOVED and ASK, and
 * retries TRYAGAIN: those are answers of a node that did not run the command.
 */
export function createRedis(target: RedisTarget, options: RedisClientOptions): RedisClient {
  const node: RedisOptions = {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: 2000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    lazyConnect: false,
    enableAutoPipelining: options.autoPipelining ?? false,
  };
  return connectRedis(target, {
    redis: node,
    cluster: {
      enableOfflineQueue: false,
      enableAutoPipelining: options.autoPipelining ?? false,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      retryDelayOnTryAgain: 50,
      maxRedirections: 16,
      slotsRefreshTimeout: 2000,
      // After a failover the slots of the lost primary are still mapped to it; a command sent
      // alone follows the MOVED answer and refreshes the map, but auto-pipelined commands of
      // several slots are answered MOVED without either (ioredis retries such a pipeline only
      // when it holds reads). A map at most a second old bounds that.
      slotsRefreshInterval: 1000,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    },
  });
}

/** Waits until the client is ready, or gives up quietly: readiness is reported by /readyz. */
export async function waitReady(redis: RedisClient, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  if (!(await statusReady(redis, timeoutMs))) return false;
  if (!isCluster(redis)) return true;
  // A cluster client is "ready" once it has the slot map, while its connections to the other
  // primaries may still be opening; without an offline queue a command sent to one of them now
  // would fail, so wait for those too.
  const nodes = redis.nodes('master');
  const ready = await Promise.all(nodes.map((n) => statusReady(n, Math.max(0, deadline - Date.now()))));
  return ready.every(Boolean);
}

function statusReady(redis: RedisClient, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
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
  return /Stream isn't writeable|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|enableOfflineQueue|MaxRetriesPerRequest|LOADING|READONLY|CLUSTERDOWN|MASTERDOWN|^MOVED |^ASK |^TRYAGAIN|Cluster isn't ready|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes/i.test(
    err.message,
  );
}

/**
 * ioredis refused the command before writing it: the connection was not writable, or the
 * cluster had no ready node for it. "Too many Cluster redirections" follows only answers that
 * say the command did not run there (MOVED, ASK, TRYAGAIN): it never ran.
 */
const NOT_SENT = /Stream isn't writeable|enableOfflineQueue|Too many Cluster redirections/i;
/**
 * Redis answered with an error that means it did not run the command (and so wrote nothing).
 * MOVED, ASK and TRYAGAIN reach the caller only when the cluster client could not follow them.
 */
const REFUSED = /^(LOADING|READONLY|CLUSTERDOWN|MASTERDOWN|BUSY|OOM|NOREPLICAS|MISCONF|MOVED|ASK|TRYAGAIN)\b/;

/** A slot moved (failover, resharding) and the client's map is stale: fetch it again now. */
export function noteRedirect(redis: RedisClient, err: unknown): void {
  if (isCluster(redis) && err instanceof Error && /^(MOVED|ASK) /.test(err.message))
    redis.refreshSlotsCache();
}

/**
 * Sends a write whose effect the caller must report truthfully. Not sent (the connection is not
 * ready, or ioredis refused to write) or refused by Redis: DependencyUnavailableError, nothing
 * was applied. Sent but unanswered (timeout, connection lost meanwhile): OutcomeUnknownError,
 * it may have been applied. Other Redis errors are bugs and are thrown as they are.
 */
export async function sendWrite<T>(redis: RedisClient, send: () => Promise<T>): Promise<T> {
  if (redis.status !== 'ready') {
    throw new DependencyUnavailableError('redis', new Error(`redis connection is ${redis.status}`));
  }
  try {
    return await send();
  } catch (err) {
    noteRedirect(redis, err);
    throw classifyWriteError(err);
  }
}

/** What a failed write means for its outcome (see sendWrite). */
export function classifyWriteError(err: unknown): unknown {
  if (err instanceof ReplyError) {
    return REFUSED.test((err as Error).message) ? new DependencyUnavailableError('redis', err) : err;
  }
  if (err instanceof Error && NOT_SENT.test(err.message)) return new DependencyUnavailableError('redis', err);
  return new OutcomeUnknownError('redis', err);
}

/** Events waiting in the outbox streams of every partition. */
export async function outboxDepth(redis: RedisClient, keys: RedisKeys): Promise<number> {
  const lengths = await Promise.all(keys.partitions.map((p) => redis.xlen(p.outbox)));
  return lengths.reduce((a, b) => a + b, 0);
}

/**
 * Runs commands whose key ioredis cannot find (XGROUP's key follows its subcommand; UNWATCH
 * names none) on the node that holds `key`: in a pipeline behind an EXISTS of it, which a
 * cluster client sends to that key's node. Returns the added commands' replies; throws the
 * first error among them.
 */
export async function onNodeOf(
  redis: RedisClient,
  key: string,
  add: (pipeline: ChainableCommander) => ChainableCommander,
): Promise<unknown[]> {
  const results = await add(redis.pipeline().exists(key)).exec();
  if (!results) throw new Error('pipeline aborted');
  const failed = results.find(([err]) => err)?.[0];
  if (failed) throw failed;
  return results.slice(1).map(([, value]) => value);
}

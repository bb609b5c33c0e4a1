import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Redis } from 'ioredis';
import type { RedisConnection } from '@gavel/shared';
import type { Logger } from 'pino';

/**
 * Caps on live connections per user and per client address, counted across replicas in Redis.
 * Each replica keeps its own count in the user's (and the address's) hash, under its instance id
 * (REPLICA_ID plus a random suffix per start, so that a restarted process never inherits the
 * counts of its previous life); an instance heartbeats a key with a TTL, and the admit script
 * sums only the counts of live instances (dropping the others), so that a replica killed with
 * its connections gives their slots back within the TTL.
 *
 * One Redis round trip per connect and per disconnect. If Redis cannot be reached, each replica
 * enforces the caps on its own connections alone rather than refusing everyone.
 *
 * The scripts read heartbeat keys they are not given, which a Redis Cluster allows only within
 * the script's own hash slot: every key here carries one hash tag, `{conns}` (one shard holds
 * the counts; a connect is rare beside a bid, so that shard is never the bottleneck).
 */

/** The sum of a count hash's live instances (hb: heartbeat key prefix); drops the dead ones. */
const LIVE_TOTAL = `
local function live_total(key, hb)
  local total = 0
  local raw = redis.call('HGETALL', key)
  for i = 1, #raw, 2 do
    if redis.call('EXISTS', hb .. raw[i]) == 1 then total = total + tonumber(raw[i + 1])
    else redis.call('HDEL', key, raw[i]) end
  end
  return total
end`;

// KEYS: user hash, address hash. ARGV: instance, heartbeat prefix, max per user, max per address,
// hash TTL (s). Returns 'ok', 'user' or 'address'.
const ADMIT = `${LIVE_TOTAL}
if live_total(KEYS[1], ARGV[2]) >= tonumber(ARGV[3]) then return 'user' end
if live_total(KEYS[2], ARGV[2]) >= tonumber(ARGV[4]) then return 'address' end
for i = 1, 2 do
  redis.call('HINCRBY', KEYS[i], ARGV[1], 1)
  redis.call('EXPIRE', KEYS[i], ARGV[5])
end
return 'ok'`;

// KEYS: user hash, address hash. ARGV: instance.
const RELEASE = `
for i = 1, 2 do
  local n = tonumber(redis.call('HGET', KEYS[i], ARGV[1]) or '0')
  if n <= 1 then redis.call('HDEL', KEYS[i], ARGV[1]) else redis.call('HINCRBY', KEYS[i], ARGV[1], -1) end
end
return 1`;

// KEYS: user hash. ARGV: heartbeat prefix. Returns the user's live connections.
const COUNT = `${LIVE_TOTAL}
return live_total(KEYS[1], ARGV[1])`;

interface LimitsRedis extends Redis {
  connectionAdmit(
    user: string,
    address: string,
    instance: string,
    hb: string,
    maxUser: number,
    maxAddress: number,
    ttlS: number,
  ): Promise<string>;
  connectionRelease(user: string, address: string, instance: string): Promise<number>;
  connectionCount(user: string, hb: string): Promise<number>;
}

export interface ConnectionLimitsOptions {
  readonly redis: RedisConnection;
  /** Key prefix, REDIS_PREFIX + "broadcast:". */
  readonly prefix: string;
  readonly replicaId: string;
  readonly maxPerUser: number;
  readonly maxPerAddress: number;
  /** An instance that stops heartbeating this long no longer counts. */
  readonly ttlMs: number;
  readonly logger: Logger;
}

export type Admission =
  | { readonly ok: true; readonly release: () => void }
  | { readonly ok: false; readonly reason: 'user' | 'address' };

/** Hash fields hold at most this many seconds without a connect (a lost release heals). */
const HASH_TTL_S = 24 * 3600;

export class ConnectionLimits {
  private readonly redis: LimitsRedis;
  private readonly instance: string;
  private readonly hb: string;
  private readonly local = { user: new Map<string, number>(), address: new Map<string, number>() };
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ConnectionLimitsOptions) {
    const r = options.redis as unknown as LimitsRedis;
    if (typeof (r as Partial<LimitsRedis>).connectionAdmit !== 'function') {
      r.defineCommand('connectionAdmit', { numberOfKeys: 2, lua: ADMIT });
      r.defineCommand('connectionRelease', { numberOfKeys: 2, lua: RELEASE });
      r.defineCommand('connectionCount', { numberOfKeys: 1, lua: COUNT });
    }
    this.redis = r;
    this.instance = `${options.replicaId}-${randomUUID().slice(0, 8)}`;
    this.hb = `${options.prefix}{conns}:alive:`;
  }

  async start(): Promise<void> {
    await this.beat().catch((err: unknown) =>
      this.options.logger.warn({ err }, 'connection heartbeat failed'),
    );
    this.timer = setInterval(
      () =>
        void this.beat().catch((err: unknown) =>
          this.options.logger.warn({ err }, 'connection heartbeat failed'),
        ),
      Math.max(500, Math.floor(this.options.ttlMs / 3)),
    );
    this.timer.unref();
  }

  private beat(): Promise<unknown> {
    return this.redis.set(`${this.hb}${this.instance}`, '1', 'PX', this.options.ttlMs);
  }

  /** Takes a slot for a new connection of `userId` from `address`; `release` gives it back (once). */
  async admit(userId: string, address: string): Promise<Admission> {
    const { maxPerUser, maxPerAddress } = this.options;
    // This replica alone is already over: no need to ask Redis.
    if ((this.local.user.get(userId) ?? 0) >= maxPerUser) return { ok: false, reason: 'user' };
    if ((this.local.address.get(address) ?? 0) >= maxPerAddress) return { ok: false, reason: 'address' };
    const keys = [this.key('user', userId), this.key('addr', address)] as const;
    let counted = true;
    try {
      const answer = await this.redis.connectionAdmit(
        keys[0],
        keys[1],
        this.instance,
        this.hb,
        maxPerUser,
        maxPerAddress,
        HASH_TTL_S,
      );
      if (answer === 'user' || answer === 'address') return { ok: false, reason: answer };
    } catch (err) {
      counted = false;
      this.options.logger.warn({ err }, 'connection limits: Redis unavailable, counting this replica only');
    }
    bump(this.local.user, userId, 1);
    bump(this.local.address, address, 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        bump(this.local.user, userId, -1);
        bump(this.local.address, address, -1);
        if (!counted) return;
        this.redis
          .connectionRelease(keys[0], keys[1], this.instance)
          .catch((err: unknown) => this.options.logger.warn({ err }, 'connection release failed'));
      },
    };
  }

  /**
   * Whether `userId` has a live connection on any replica: the counts the caps keep already
   * answer it, so no replica needs a responder per user (a NATS subscription each, over 1 KiB of
   * heap per connected user). Throws when Redis cannot be asked.
   */
  async isOnline(userId: string): Promise<boolean> {
    if ((this.local.user.get(userId) ?? 0) > 0) return true;
    return (await this.redis.connectionCount(this.key('user', userId), this.hb)) > 0;
  }

  private key(kind: 'user' | 'addr', id: string): string {
    return `${this.options.prefix}{conns}:${kind}:${id}`;
  }

  /** Stops heartbeating and gives back every slot of this instance at once (graceful stop). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.del(`${this.hb}${this.instance}`).catch(() => undefined);
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

/**
 * The client's address: the socket's peer, or behind a proxy (TRUST_PROXY) the last
 * X-Forwarded-For entry, the address our nearest proxy saw (earlier entries are the client's to
 * make up).
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const header = req.headers['x-forwarded-for'];
    const value = Array.isArray(header) ? header.at(-1) : header;
    const last = value?.split(',').at(-1)?.trim();
    if (last) return last.slice(0, 64);
  }
  return req.socket.remoteAddress ?? 'unknown';
}

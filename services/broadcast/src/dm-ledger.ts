import type { RedisConnection } from '@gavel/shared';

/**
 * What the gateway remembers about direct messages, in Redis, shared by every replica: who each
 * message is from and to (so that only its recipient can mark it read), whether it reached a
 * device yet and when it was read (so that each receipt goes out once), and how far each device
 * of a user got in the user's DM feed (so that a device catches up from where it was).
 *
 * A device without a position starts where the user's furthest device is (field `*`), or at the
 * beginning of the stream for a user never seen: what waited for them is delivered.
 *
 * Every script and transaction here touches one key, so it runs as it is on a Redis Cluster.
 */

// KEYS: message hash. ARGV: userId, now (ISO). Returns {readAt, new(1|0), from}, or nil when the
// message is not one to this user (or unknown).
const MARK_READ = `
if redis.call('HGET', KEYS[1], 'to') ~= ARGV[1] then return nil end
local fresh = redis.call('HSETNX', KEYS[1], 'readAt', ARGV[2])
return {redis.call('HGET', KEYS[1], 'readAt'), fresh, redis.call('HGET', KEYS[1], 'from')}`;

// KEYS: positions hash. ARGV: deviceId, cursor, ttl s. Raises the device's and the user's mark.
const ADVANCE = `
local c = tonumber(ARGV[2])
for _, field in ipairs({ARGV[1], '*'}) do
  local have = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if c > have then redis.call('HSET', KEYS[1], field, ARGV[2]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;

type LedgerRedis = RedisConnection & {
  dmMarkRead(key: string, userId: string, now: string): Promise<[string, number, string] | null>;
  dmAdvance(key: string, deviceId: string, cursor: string, ttl: number): Promise<number>;
};

/** Kept a little longer than the stream keeps events (7 days). */
const MESSAGE_TTL_S = 8 * 24 * 3600;
/** A device unseen this long starts again from the user's mark. */
const POSITION_TTL_S = 30 * 24 * 3600;

export class DmLedger {
  private readonly redis: LedgerRedis;
  /** Highest cursor sent per connection key, written in the background (see advance). */
  private readonly pending = new Map<string, { userId: string; deviceId: string; cursor: number }>();
  private flushing: NodeJS.Timeout | undefined;

  constructor(
    redis: RedisConnection,
    private readonly prefix: string,
  ) {
    const r = redis as LedgerRedis;
    if (typeof (r as Partial<LedgerRedis>).dmMarkRead !== 'function') {
      r.defineCommand('dmMarkRead', { numberOfKeys: 1, lua: MARK_READ });
      r.defineCommand('dmAdvance', { numberOfKeys: 1, lua: ADVANCE });
    }
    this.redis = r;
  }

  private messageKey(id: string) {
    return `${this.prefix}dm:${id}`;
  }

  private positionsKey(userId: string) {
    return `${this.prefix}dmpos:${userId}`;
  }

  async remember(dm: { id: string; from: string; to: string }): Promise<void> {
    const key = this.messageKey(dm.id);
    await this.redis.multi().hset(key, 'from', dm.from, 'to', dm.to).expire(key, MESSAGE_TTL_S).exec();
  }

  /** True the first time a message is marked delivered (to any device). */
  async markDelivered(id: string, at: string): Promise<boolean> {
    const key = this.messageKey(id);
    const result = await this.redis.multi().hsetnx(key, 'deliveredAt', at).expire(key, MESSAGE_TTL_S).exec();
    return result?.[0]?.[1] === 1;
  }

  /**
   * Marks a message read by `userId`: undefined when it is not a message to them (or unknown);
   * otherwise when it was first read, and whether that was now.
   */
  async markRead(
    id: string,
    userId: string,
  ): Promise<{ at: string; fresh: boolean; from: string } | undefined> {
    const r = await this.redis.dmMarkRead(this.messageKey(id), userId, new Date().toISOString());
    if (!r) return undefined;
    return { at: r[0], fresh: r[1] === 1, from: r[2] };
  }

  /** Where a device resumes the user's DM feed. */
  async position(userId: string, deviceId: string): Promise<number> {
    const [device, furthest] = await this.redis.hmget(this.positionsKey(userId), deviceId, '*');
    return Number(device ?? furthest ?? 0) || 0;
  }

  /**
   * Records that a device was sent the user's feed up to `cursor`. Writes are coalesced: at most
   * one per device every few milliseconds, however many events a catch-up sends.
   */
  advance(userId: string, deviceId: string, cursor: number): void {
    const key = `${userId}\n${deviceId}`;
    const have = this.pending.get(key);
    if (!have || have.cursor < cursor) this.pending.set(key, { userId, deviceId, cursor });
    this.flushing ??= setTimeout(() => void this.flush(), 20);
  }

  /** Writes the pending positions now. */
  async flush(): Promise<void> {
    clearTimeout(this.flushing);
    this.flushing = undefined;
    const batch = [...this.pending.values()];
    this.pending.clear();
    await Promise.all(
      batch.map((p) =>
        this.redis
          .dmAdvance(this.positionsKey(p.userId), p.deviceId, String(p.cursor), POSITION_TTL_S)
          .catch(() => undefined),
      ),
    );
  }
}

import { presenceRoomKey, type RedisConnection } from '@gavel/shared';
import type { Logger } from 'pino';

/**
 * Who is in which chat room, across replicas, in Redis. Each member is recorded as
 * `<userId>|<replicaId>` in the room's hash, and each replica keeps a heartbeat key with a TTL.
 * Entries of a replica whose heartbeat expired (SIGKILL, lost node) are ignored at once and
 * swept by the surviving replicas, which announce the leaves: no ghost members.
 *
 * The scripts read keys they were not given (the heartbeats). Redis allows that only for keys of
 * the script's own hash slot, so every presence key carries one hash tag, `{presence}`: in a
 * Redis Cluster all of presence lives on one shard (joins, leaves and sweeps are few beside bids).
 */

const MEMBER_IS_LIVE = `
local function live(field, prefix)
  local sep = string.find(field, '|', 1, true)
  if not sep then return nil end
  local replica = string.sub(field, sep + 1)
  if redis.call('EXISTS', prefix .. replica) == 1 then return string.sub(field, 1, sep - 1) end
  return nil
end
local function userLiveElsewhere(room, user, except, prefix)
  for _, f in ipairs(redis.call('HKEYS', room)) do
    if f ~= except and live(f, prefix) == user then return true end
  end
  return false
end
`;

// KEYS: room hash, rooms set. ARGV: userId, replicaId, heartbeat prefix, roomId.
const JOIN = `${MEMBER_IS_LIVE}
local field = ARGV[1] .. '|' .. ARGV[2]
redis.call('HSET', KEYS[1], field, '1')
redis.call('SADD', KEYS[2], ARGV[4])
if userLiveElsewhere(KEYS[1], ARGV[1], field, ARGV[3]) then return 0 end
return 1`;

const LEAVE = `${MEMBER_IS_LIVE}
local field = ARGV[1] .. '|' .. ARGV[2]
if redis.call('HDEL', KEYS[1], field) == 0 then return 0 end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[4]) end
if userLiveElsewhere(KEYS[1], ARGV[1], field, ARGV[3]) then return 0 end
return 1`;

// KEYS: room hash. ARGV: heartbeat prefix. Returns the distinct live users.
const MEMBERS = `${MEMBER_IS_LIVE}
local seen, out = {}, {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  local user = live(f, ARGV[1])
  if user and not seen[user] then seen[user] = true; table.insert(out, user) end
end
return out`;

// KEYS: room hash, rooms set. ARGV: heartbeat prefix, roomId. Removes dead replicas' entries and
// returns the users who thereby left the room. Only the caller whose HDEL succeeded reports.
const SWEEP = `${MEMBER_IS_LIVE}
local left = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  local sep = string.find(f, '|', 1, true)
  if sep and redis.call('EXISTS', ARGV[1] .. string.sub(f, sep + 1)) == 0 then
    if redis.call('HDEL', KEYS[1], f) == 1 then
      local user = string.sub(f, 1, sep - 1)
      if not userLiveElsewhere(KEYS[1], user, f, ARGV[1]) then table.insert(left, user) end
    end
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return left`;

type PresenceRedis = RedisConnection & {
  presenceJoin(
    room: string,
    rooms: string,
    userId: string,
    replica: string,
    hb: string,
    roomId: string,
  ): Promise<number>;
  presenceLeave(
    room: string,
    rooms: string,
    userId: string,
    replica: string,
    hb: string,
    roomId: string,
  ): Promise<number>;
  presenceMembers(room: string, hb: string): Promise<string[]>;
  presenceSweep(room: string, rooms: string, hb: string, roomId: string): Promise<string[]>;
};

export interface PresenceOptions {
  readonly redis: RedisConnection;
  /** Key prefix, REDIS_PREFIX + "broadcast:". */
  readonly prefix: string;
  readonly replicaId: string;
  readonly ttlMs: number;
  readonly logger: Logger;
  /** Called for users a sweep found gone (their replica died). */
  readonly onSweptLeave: (roomId: string, userId: string) => void;
}

export class Presence {
  private readonly redis: PresenceRedis;
  private timer: NodeJS.Timeout | undefined;
  private readonly hb: string;

  constructor(private readonly options: PresenceOptions) {
    const r = options.redis as PresenceRedis;
    if (typeof (r as Partial<PresenceRedis>).presenceJoin !== 'function') {
      r.defineCommand('presenceJoin', { numberOfKeys: 2, lua: JOIN });
      r.defineCommand('presenceLeave', { numberOfKeys: 2, lua: LEAVE });
      r.defineCommand('presenceMembers', { numberOfKeys: 1, lua: MEMBERS });
      r.defineCommand('presenceSweep', { numberOfKeys: 2, lua: SWEEP });
    }
    this.redis = r;
    this.hb = `${this.tagged}replica:`;
  }

  /** Every presence key starts so: one hash slot for all of them. */
  private get tagged() {
    return `${this.options.prefix}{presence}:`;
  }

  /** The api reads it too (is anyone in a room?): the key is declared in @gavel/shared. */
  private roomKey(roomId: string) {
    return presenceRoomKey(this.options.prefix, roomId);
  }

  private get roomsKey() {
    return `${this.tagged}rooms`;
  }

  /** Starts the heartbeat and the sweeper. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(
      () => {
        this.beat()
          .then(() => this.sweep())
          .catch((err: unknown) => this.options.logger.warn({ err }, 'presence heartbeat failed'));
      },
      Math.max(500, Math.floor(this.options.ttlMs / 3)),
    );
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    await this.redis.set(`${this.hb}${this.options.replicaId}`, '1', 'PX', this.options.ttlMs);
  }

  /** Returns true when the user was not in the room on any replica before. */
  join(roomId: string, userId: string): Promise<boolean> {
    return this.update('presenceJoin', roomId, userId);
  }

  /** Returns true when the user is now in the room on no replica. */
  leave(roomId: string, userId: string): Promise<boolean> {
    return this.update('presenceLeave', roomId, userId);
  }

  private async update(script: 'presenceJoin' | 'presenceLeave', roomId: string, userId: string) {
    const r = await this.redis[script](
      this.roomKey(roomId),
      this.roomsKey,
      userId,
      this.options.replicaId,
      this.hb,
      roomId,
    );
    return r === 1;
  }

  async members(roomId: string): Promise<string[]> {
    return (await this.redis.presenceMembers(this.roomKey(roomId), this.hb)).sort();
  }

  /** Rooms with at least one live member, with their member counts. */
  async rooms(): Promise<Array<{ roomId: string; members: number }>> {
    const ids = (await this.redis.smembers(this.roomsKey)).sort();
    const counts = await Promise.all(ids.map((id) => this.members(id)));
    return ids.map((roomId, i) => ({ roomId, members: counts[i]?.length ?? 0 })).filter((r) => r.members > 0);
  }

  /** Removes members whose replica stopped heartbeating and announces their leaves. */
  async sweep(): Promise<void> {
    const ids = await this.redis.smembers(this.roomsKey);
    for (const roomId of ids) {
      const left = await this.redis.presenceSweep(this.roomKey(roomId), this.roomsKey, this.hb, roomId);
      for (const userId of left) this.options.onSweptLeave(roomId, userId);
    }
  }

  /** Stops heartbeating and forgets this replica at once (graceful stop). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.del(`${this.hb}${this.options.replicaId}`);
  }
}

import {
  MAX_ROOM_MEMBERS,
  broadcastKeyPrefix,
  makeEvent,
  outboxTraceparent,
  parseRoomRecord,
  presenceRoomKey,
  readRoomRecord,
  type RoomRecord,
} from '@gavel/shared';
import { sendWrite, type RedisClient } from './redis-client.js';
import type { RedisKeys } from './redis-keys.js';

/**
 * Created rooms and their members, in Redis (the layout both services share is in
 * @gavel/shared's room-records.ts). Each change is one script that checks, writes and appends
 * its event (`room.created`, `room.member_added`, `room.member_removed`) to the outbox of the
 * room id's partition, so that the relay publishes it to JetStream however the api dies: a
 * change is either applied and announced, or neither. The scripts' keys are all in that
 * partition's slot (see redis-keys.ts), so each runs on one shard of a cluster.
 */

const APPEND = `
local function append(outbox, event, traceparent)
  if traceparent == '' then redis.call('XADD', outbox, '*', 'event', event)
  else redis.call('XADD', outbox, '*', 'event', event, 'traceparent', traceparent) end
end
`;

/**
 * KEYS: record, members, the item of the same id, outbox. ARGV: private ('1' or '0'),
 * createdBy, createdAtMs, event JSON, traceparent, outboxMaxPending, members…
 * Returns {'created'} | {'item'} (an item has this id) | {'exists'} | {'outbox_full'}.
 */
const CREATE_ROOM = `${APPEND}
if redis.call('EXISTS', KEYS[3]) == 1 then return {'item'} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
if redis.call('XLEN', KEYS[4]) >= tonumber(ARGV[6]) then return {'outbox_full'} end
redis.call('HSET', KEYS[1], 'private', ARGV[1], 'createdBy', ARGV[2], 'createdAt', ARGV[3])
for i = 7, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
append(KEYS[4], ARGV[4], ARGV[5])
return {'created'}
`;

/**
 * What the member scripts share. KEYS: record, members, outbox; ARGV[1] is the caller.
 * A caller who is no member is told the room is not there: a private room's existence is not
 * revealed to non-members. `view` answers with the room as it now is.
 */
const MEMBERS_PREAMBLE = `${APPEND}
local function refusal()
  local kind = redis.call('HGET', KEYS[1], 'private')
  if not kind then return 'not_found' end
  if kind ~= '1' then return 'public' end
  if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return 'not_found' end
  return nil
end
local function view(outcome)
  return {outcome, redis.call('HGET', KEYS[1], 'createdBy'), redis.call('HGET', KEYS[1], 'createdAt'),
    redis.call('SMEMBERS', KEYS[2])}
end
`;

/**
 * ARGV: caller, userId, event JSON, traceparent, outboxMaxPending, maxMembers.
 * Returns view('added' | 'already') | {'not_found' | 'public' | 'full' | 'outbox_full'}.
 */
const ADD_MEMBER = `${MEMBERS_PREAMBLE}
local refused = refusal()
if refused then return {refused} end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return view('already') end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[6]) then return {'full'} end
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[5]) then return {'outbox_full'} end
redis.call('SADD', KEYS[2], ARGV[2])
append(KEYS[3], ARGV[3], ARGV[4])
return view('added')
`;

/**
 * ARGV: caller, userId, event JSON, traceparent, outboxMaxPending.
 * Returns view('removed') | {'not_found' | 'public' | 'not_member' | 'last_member' | 'outbox_full'}.
 * The last member stays: a private room always has someone who can manage it, and removing the
 * record would make its history public.
 */
const REMOVE_MEMBER = `${MEMBERS_PREAMBLE}
local refused = refusal()
if refused then return {refused} end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 then return {'not_member'} end
if redis.call('SCARD', KEYS[2]) <= 1 then return {'last_member'} end
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[5]) then return {'outbox_full'} end
redis.call('SREM', KEYS[2], ARGV[2])
append(KEYS[3], ARGV[3], ARGV[4])
return view('removed')
`;

type Reply = [outcome: string, createdBy?: string, createdAt?: string, members?: string[]];
type Script = (...keysThenArgv: string[]) => Promise<Reply>;

export interface NewRoom {
  readonly id: string;
  readonly private: boolean;
  readonly createdBy: string;
  /** Besides the creator, who is always a member of a private room. */
  readonly members: readonly string[];
}

export type CreateOutcome =
  | { readonly outcome: 'created'; readonly room: RoomRecord }
  | { readonly outcome: 'item' | 'exists' | 'outbox_full' };

export type AddOutcome =
  | { readonly outcome: 'added' | 'already'; readonly room: RoomRecord }
  | { readonly outcome: 'not_found' | 'public' | 'full' | 'outbox_full' };

export type RemoveOutcome =
  | { readonly outcome: 'removed'; readonly room: RoomRecord }
  | { readonly outcome: 'not_found' | 'public' | 'not_member' | 'last_member' | 'outbox_full' };

export interface RoomsRepositoryOptions {
  readonly keys: RedisKeys;
  /** REDIS_PREFIX: broadcast's presence keys live under it. */
  readonly redisPrefix: string;
  readonly outboxMaxPending: number;
}

export function createRoomsRepository(redis: RedisClient, options: RoomsRepositoryOptions) {
  const { keys, outboxMaxPending } = options;
  const scripts = {
    gavelCreateRoom: [4, CREATE_ROOM],
    gavelAddMember: [3, ADD_MEMBER],
    gavelRemoveMember: [3, REMOVE_MEMBER],
  } as const;
  for (const [name, [numberOfKeys, lua]] of Object.entries(scripts)) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
  }
  const run = (name: keyof typeof scripts, ...args: string[]) =>
    sendWrite(redis, () => (redis as unknown as Record<string, Script>)[name]!.call(redis, ...args));
  const presencePrefix = broadcastKeyPrefix(options.redisPrefix);

  const recordOf = (roomId: string, reply: Reply): RoomRecord =>
    parseRoomRecord(
      roomId,
      { private: '1', createdBy: reply[1] ?? '', createdAt: reply[2] ?? '0' },
      reply[3] ?? [],
    )!;

  return {
    /** Creates a room unless its id is taken by a room or an item, with its event, atomically. */
    async create(room: NewRoom): Promise<CreateOutcome> {
      const members = room.private ? [...new Set([room.createdBy, ...room.members])] : [];
      const createdAtMs = Date.now();
      const event = makeEvent(
        'room.created',
        { roomId: room.id, private: room.private, createdBy: room.createdBy, members },
        { at: new Date(createdAtMs) },
      );
      const k = keys.room(room.id);
      const [outcome] = await run(
        'gavelCreateRoom',
        k.record,
        k.members,
        keys.item(room.id),
        keys.partitionOf(room.id).outbox,
        room.private ? '1' : '0',
        room.createdBy,
        String(createdAtMs),
        JSON.stringify(event),
        outboxTraceparent(),
        String(outboxMaxPending),
        ...members,
      );
      if (outcome !== 'created') return { outcome: outcome as 'item' | 'exists' | 'outbox_full' };
      const hash = {
        private: room.private ? '1' : '0',
        createdBy: room.createdBy,
        createdAt: String(createdAtMs),
      };
      return { outcome, room: parseRoomRecord(room.id, hash, members)! };
    },

    /** Whether the id is taken, by a created room or by an item (read only; create decides). */
    async taken(roomId: string): Promise<'exists' | 'item' | null> {
      const [room, item] = await Promise.all([
        redis.exists(keys.room(roomId).record),
        redis.exists(keys.item(roomId)),
      ]);
      return room ? 'exists' : item ? 'item' : null;
    },

    /** The room's record; null when it was never created. */
    get(roomId: string): Promise<RoomRecord | null> {
      return readRoomRecord(redis, keys.room(roomId), roomId);
    },

    /** A member (`caller`) adds `userId`; adding a member again changes nothing. */
    async addMember(roomId: string, caller: string, userId: string): Promise<AddOutcome> {
      const k = keys.room(roomId);
      const event = makeEvent('room.member_added', { roomId, userId, by: caller });
      const reply = await run(
        'gavelAddMember',
        k.record,
        k.members,
        keys.partitionOf(roomId).outbox,
        caller,
        userId,
        JSON.stringify(event),
        outboxTraceparent(),
        String(outboxMaxPending),
        String(MAX_ROOM_MEMBERS),
      );
      const outcome = reply[0];
      if (outcome === 'added' || outcome === 'already') return { outcome, room: recordOf(roomId, reply) };
      return { outcome: outcome as 'not_found' | 'public' | 'full' | 'outbox_full' };
    },

    /** A member (`caller`) removes `userId`, themself included; never the last member. */
    async removeMember(roomId: string, caller: string, userId: string): Promise<RemoveOutcome> {
      const k = keys.room(roomId);
      const event = makeEvent('room.member_removed', { roomId, userId, by: caller });
      const reply = await run(
        'gavelRemoveMember',
        k.record,
        k.members,
        keys.partitionOf(roomId).outbox,
        caller,
        userId,
        JSON.stringify(event),
        outboxTraceparent(),
        String(outboxMaxPending),
      );
      const outcome = reply[0];
      if (outcome === 'removed') return { outcome, room: recordOf(roomId, reply) };
      return { outcome: outcome as 'not_found' | 'public' | 'not_member' | 'last_member' | 'outbox_full' };
    },

    /** Whether anyone is in the room now, on any broadcast replica (its presence hash). */
    async occupied(roomId: string): Promise<boolean> {
      return (await redis.hlen(presenceRoomKey(presencePrefix, roomId))) > 0;
    },
  };
}

export type RoomsRepository = ReturnType<typeof createRoomsRepository>;

/**
 * Redis Lua scripts. Each runs atomically: no other command interleaves, so the rules, the seq,
 * the indexes and the outbox append can never be seen half-applied, whatever the number of api
 * replicas. Time comes from Redis (TIME) so that every replica judges endsAt by one clock.
 */

/** Epoch ms -> ISO 8601 (UTC, ms), the same text as JavaScript's Date#toISOString. */
const ISO_FUNCTION = `
local function iso(ms)
  local secs = math.floor(ms / 1000)
  local millis = ms - secs * 1000
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, millis)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** What the bid script is built from: the deployment's settings, fixed for the process's life. */
export interface PlaceBidSettings {
  readonly autoOpen: boolean;
  readonly autoOpenDurationMs: number;
  readonly autoOpenPriceCents: number;
  readonly autoOpenIncrementCents: number;
  readonly extendWindowMs: number;
  readonly extendByMs: number;
  readonly idempotencyTtlS: number;
  readonly outboxMaxPending: number;
  readonly bidsPerSecond: number;
  readonly eventVersion: number;
}

/**
 * Places one bid (strategy "lua"): a transcription of decideBid in rules.ts, with the
 * Idempotency-Key replay first and the per-user rate limit second (a replay never counts).
 * The settings are written into the script (one script per configuration), so a call carries
 * only the bid.
 * KEYS: item, openItems, outbox, idempotency (or a placeholder), the bidder's rate-limit counter.
 * ARGV: itemId, userId, amountCents, eventId (the bid event's id; an extension or an opening
 * adds a suffix to it), hasIdempotency ('1' or '0'), traceparent (the request's W3C trace
 * context, stored with each outbox entry so the relay's publish continues the trace; '' none).
 * Returns one flat reply: {'replay', storedJson} | {'accepted', seq, atMs, endsAtMs, extended
 * (0/1)} | {'too_low', highestCents (-1: none), minimumCents} | {'closed', endsAtMs} |
 * {'not_found'} | {'outbox_full'} | {'rate_limited', retryAfterMs}.
 */
export function placeBidScript(s: PlaceBidSettings): string {
  const ints = {
    AUTO_OPEN_MS: s.autoOpenDurationMs,
    AUTO_OPEN_PRICE: s.autoOpenPriceCents,
    AUTO_OPEN_INCREMENT: s.autoOpenIncrementCents,
    EXTEND_WINDOW_MS: s.extendWindowMs,
    EXTEND_BY_MS: s.extendByMs,
    IDEMPOTENCY_TTL_S: s.idempotencyTtlS,
    OUTBOX_MAX_PENDING: s.outboxMaxPending,
    BIDS_PER_SECOND: s.bidsPerSecond,
    EVENT_VERSION: s.eventVersion,
  };
  for (const [name, value] of Object.entries(ints)) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`placeBidScript: ${name} must be a whole number`);
  }
  const constants = Object.entries(ints)
    .map(([name, value]) => `local ${name} = ${value}`)
    .join('\n');
  return `${ISO_FUNCTION}
${constants}
local AUTO_OPEN = ${s.autoOpen ? 'true' : 'false'}
local q = cjson.encode
local itemId, userId, amount, eventId = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local hasIdem = ARGV[5] == '1'
local traceparent = ARGV[6] or ''
local function append(event)
  if traceparent == '' then redis.call('XADD', KEYS[3], '*', 'event', event)
  else redis.call('XADD', KEYS[3], '*', 'event', event, 'traceparent', traceparent) end
end
if hasIdem then
  local stored = redis.call('GET', KEYS[4])
  if stored then return {'replay', stored} end
end
local used = redis.call('INCR', KEYS[5])
if used == 1 then redis.call('PEXPIRE', KEYS[5], 1000) end
if used > BIDS_PER_SECOND then
  local ttl = redis.call('PTTL', KEYS[5])
  if ttl < 1 then ttl = 1000 end
  return {'rate_limited', ttl}
end
-- The stored answer keeps the shape of a BidOutcome (rules.ts), so replayStored reads it.
local function finish(result, reply)
  if hasIdem then
    result.itemId = itemId
    redis.call('SET', KEYS[4], cjson.encode({itemId = itemId, amountCents = amount, result = result}),
      'EX', IDEMPOTENCY_TTL_S)
  end
  return reply
end
if redis.call('XLEN', KEYS[3]) >= OUTBOX_MAX_PENDING then return {'outbox_full'} end
local now = now_ms()
local item = nil
local raw = redis.call('HGETALL', KEYS[1])
if #raw > 0 then
  item = {}
  for i = 1, #raw, 2 do item[raw[i]] = raw[i + 1] end
end
local opening = false
if not item then
  if not AUTO_OPEN then return finish({outcome = 'not_found'}, {'not_found'}) end
  opening = true
  item = {
    status = 'open', startingPriceCents = AUTO_OPEN_PRICE, minIncrementCents = AUTO_OPEN_INCREMENT,
    endsAt = now + AUTO_OPEN_MS, seq = 0
  }
end
local endsAt = tonumber(item.endsAt)
if item.status ~= 'open' or now >= endsAt then
  return finish({outcome = 'closed', endsAtMs = endsAt}, {'closed', endsAt})
end
local minimum = tonumber(item.startingPriceCents)
local highest = cjson.null
if item.highestCents then
  highest = tonumber(item.highestCents)
  minimum = highest + tonumber(item.minIncrementCents)
end
if amount < minimum then
  return finish({outcome = 'too_low', highestCents = highest, minimumCents = minimum},
    {'too_low', highest == cjson.null and -1 or highest, minimum})
end
local extended = false
if EXTEND_WINDOW_MS > 0 and endsAt - now <= EXTEND_WINDOW_MS then
  local pushed = now + EXTEND_BY_MS
  if pushed > endsAt then
    endsAt = pushed
    extended = true
  end
end
local seq = tonumber(item.seq) + 1
local at = iso(now)
if opening then
  redis.call('HSET', KEYS[1], 'id', itemId, 'title', itemId, 'status', 'open',
    'startingPriceCents', AUTO_OPEN_PRICE, 'minIncrementCents', AUTO_OPEN_INCREMENT, 'openedAt', now)
  append('{"id":' .. q(eventId .. '-opened') .. ',"v":' .. EVENT_VERSION ..
    ',"at":"' .. at .. '","type":"item.opened","itemId":' .. q(itemId) .. ',"title":' .. q(itemId) ..
    ',"startingPriceCents":' .. AUTO_OPEN_PRICE .. ',"minIncrementCents":' .. AUTO_OPEN_INCREMENT ..
    ',"endsAt":"' .. iso(tonumber(item.endsAt)) .. '"}')
end
redis.call('HSET', KEYS[1], 'seq', seq, 'highestCents', amount, 'highestUser', userId,
  'highestAt', now, 'endsAt', endsAt)
if opening or extended then redis.call('ZADD', KEYS[2], endsAt, itemId) end
append('{"id":' .. q(eventId) .. ',"v":' .. EVENT_VERSION .. ',"at":"' .. at ..
  '","type":"bid.accepted","itemId":' .. q(itemId) .. ',"seq":' .. seq .. ',"userId":' .. q(userId) ..
  ',"amountCents":' .. amount .. '}')
if extended then
  append('{"id":' .. q(eventId .. '-extended') .. ',"v":' .. EVENT_VERSION ..
    ',"at":"' .. at .. '","type":"item.extended","itemId":' .. q(itemId) .. ',"seq":' .. seq ..
    ',"endsAt":"' .. iso(endsAt) .. '"}')
end
return finish({outcome = 'accepted', seq = seq, amountCents = amount, userId = userId, atMs = now,
  endsAtMs = endsAt, extended = extended}, {'accepted', seq, now, endsAt, extended and 1 or 0})
`;
}

/**
 * Opens a new item (POST /items) unless the id is taken, by an item or by a private room (an
 * item's chat room is the room of its id, and it is public).
 * KEYS: item, openItems, outbox, the room record of the id. ARGV: itemId, openedEvent JSON
 * (endsAt already set), endsAtMs, startingPriceCents, minIncrementCents, title.
 * Returns {"exists"}, {"private_room"} or {"created", openedAtMs}.
 */
export const CREATE_ITEM_SCRIPT = `${ISO_FUNCTION}
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
if redis.call('HGET', KEYS[4], 'private') == '1' then return {'private_room'} end
local now = now_ms()
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'title', ARGV[6], 'status', 'open',
  'startingPriceCents', ARGV[4], 'minIncrementCents', ARGV[5], 'endsAt', ARGV[3],
  'openedAt', now, 'seq', 0)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local ev = cjson.decode(ARGV[2])
ev.at = iso(now)
redis.call('XADD', KEYS[3], '*', 'event', cjson.encode(ev))
return {'created', tostring(now)}
`;

/**
 * Closes one item if it is due: open and endsAt <= Redis time. Several closers may call it for
 * the same item at once; only the first finds it open, so item.closed is emitted exactly once.
 * KEYS: item, openItems, closedItems, outbox. ARGV: itemId, closedEvent JSON (id; winner,
 * bidCount and at are filled in here).
 * Returns "closed", "not_due", or "gone" (unknown or already closed; removed from the work list).
 */
export const CLOSE_ITEM_SCRIPT = `${ISO_FUNCTION}
local raw = redis.call('HGETALL', KEYS[1])
local item = {}
for i = 1, #raw, 2 do item[raw[i]] = raw[i + 1] end
if item.status ~= 'open' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'gone'
end
local now = now_ms()
local endsAt = tonumber(item.endsAt)
if now < endsAt then
  redis.call('ZADD', KEYS[2], endsAt, ARGV[1])
  return 'not_due'
end
redis.call('HSET', KEYS[1], 'status', 'closed', 'closedAt', now)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], now, ARGV[1])
local ev = cjson.decode(ARGV[2])
ev.at = iso(now)
ev.bidCount = tonumber(item.seq or '0')
if item.highestCents then
  ev.winner = {userId = item.highestUser, amountCents = tonumber(item.highestCents), seq = tonumber(item.seq)}
else
  ev.winner = cjson.null
end
redis.call('XADD', KEYS[4], '*', 'event', cjson.encode(ev))
return 'closed'
`;

/**
 * The per-user bid rate limit for the optimistic strategy, sent in the pipeline of its first
 * read: a fixed one-second window, the same counter the bid script keeps, and a request whose
 * Idempotency-Key already has an answer is not counted (it is replayed).
 * KEYS: idempotency (or a placeholder), the bidder's rate-limit counter. ARGV: hasIdempotency.
 * Returns -1 (a replay), 0 (within the limit) or the ms until the window ends (limited).
 */
export function bidRateLimitScript(bidsPerSecond: number): string {
  if (!Number.isSafeInteger(bidsPerSecond) || bidsPerSecond < 1) {
    throw new Error('bidRateLimitScript: bidsPerSecond must be a whole number');
  }
  return `
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local used = redis.call('INCR', KEYS[2])
if used == 1 then redis.call('PEXPIRE', KEYS[2], 1000) end
if used <= ${bidsPerSecond} then return 0 end
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 1 then return 1000 end
return ttl
`;
}

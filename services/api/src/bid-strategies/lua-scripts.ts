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

/**
 * Places one bid (strategy "lua"): a transcription of decideBid in rules.ts.
 * KEYS: item, openItems, outbox, idempotency.
 * ARGV: itemId, userId, amountCents, bidEvent, extendedEvent, openedEvent (JSON made by the app
 * with makeEvent: ids and payload; seq, at and endsAt are filled in here), hasIdempotency,
 * idempotencyTtlS, outboxMaxPending, autoOpen, autoOpenDurationMs, extendWindowMs, extendByMs.
 * Returns {"replay", storedJson} or {"new", outcomeJson}.
 */
export const PLACE_BID_SCRIPT = `${ISO_FUNCTION}
local itemId, userId, amount = ARGV[1], ARGV[2], tonumber(ARGV[3])
local hasIdem = ARGV[7] == '1'
if hasIdem then
  local stored = redis.call('GET', KEYS[4])
  if stored then return {'replay', stored} end
end
local function finish(result)
  local json = cjson.encode(result)
  if hasIdem then
    redis.call('SET', KEYS[4], cjson.encode({itemId = itemId, amountCents = amount, result = result}), 'EX', ARGV[8])
  end
  return {'new', json}
end
if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[9]) then
  return {'new', cjson.encode({outcome = 'outbox_full'})}
end
local now = now_ms()
local item = nil
local raw = redis.call('HGETALL', KEYS[1])
if #raw > 0 then
  item = {}
  for i = 1, #raw, 2 do item[raw[i]] = raw[i + 1] end
end
local opened = nil
if not item then
  if ARGV[10] ~= '1' then return finish({outcome = 'not_found', itemId = itemId}) end
  opened = cjson.decode(ARGV[6])
  item = {
    id = itemId, title = opened.title, status = 'open',
    startingPriceCents = opened.startingPriceCents, minIncrementCents = opened.minIncrementCents,
    endsAt = now + tonumber(ARGV[11]), openedAt = now, seq = 0
  }
end
local endsAt = tonumber(item.endsAt)
if item.status ~= 'open' or now >= endsAt then
  return finish({outcome = 'closed', itemId = itemId, endsAtMs = endsAt})
end
local minimum = tonumber(item.startingPriceCents)
local highest = cjson.null
if item.highestCents then
  highest = tonumber(item.highestCents)
  minimum = highest + tonumber(item.minIncrementCents)
end
if amount < minimum then
  return finish({outcome = 'too_low', itemId = itemId, highestCents = highest, minimumCents = minimum})
end
local extended = false
local window = tonumber(ARGV[12])
if window > 0 and endsAt - now <= window then
  local pushed = now + tonumber(ARGV[13])
  if pushed > endsAt then
    endsAt = pushed
    extended = true
  end
end
local seq = tonumber(item.seq) + 1
if opened then
  redis.call('HSET', KEYS[1], 'id', itemId, 'title', item.title, 'status', 'open',
    'startingPriceCents', item.startingPriceCents, 'minIncrementCents', item.minIncrementCents,
    'openedAt', now)
  opened.at = iso(now)
  opened.endsAt = iso(tonumber(item.endsAt))
  redis.call('XADD', KEYS[3], '*', 'event', cjson.encode(opened))
end
redis.call('HSET', KEYS[1], 'seq', seq, 'highestCents', amount, 'highestUser', userId,
  'highestAt', now, 'endsAt', endsAt)
if opened or extended then redis.call('ZADD', KEYS[2], endsAt, itemId) end
local bid = cjson.decode(ARGV[4])
bid.seq = seq
bid.at = iso(now)
redis.call('XADD', KEYS[3], '*', 'event', cjson.encode(bid))
if extended then
  local ext = cjson.decode(ARGV[5])
  ext.seq = seq
  ext.at = iso(now)
  ext.endsAt = iso(endsAt)
  redis.call('XADD', KEYS[3], '*', 'event', cjson.encode(ext))
end
return finish({outcome = 'accepted', itemId = itemId, seq = seq, amountCents = amount, userId = userId,
  atMs = now, endsAtMs = endsAt, extended = extended})
`;

/**
 * Opens a new item (POST /items) unless the id is taken.
 * KEYS: item, openItems, outbox. ARGV: itemId, openedEvent JSON (endsAt already set), endsAtMs,
 * startingPriceCents, minIncrementCents, title.
 * Returns {"exists"} or {"created", openedAtMs}.
 */
export const CREATE_ITEM_SCRIPT = `${ISO_FUNCTION}
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
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

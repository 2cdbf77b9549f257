-- Index queries on one bucket's index key. (The protocol prelude and ranks.lua come first.) A model with
-- several buckets has one sorted or lookup index key per bucket; the client sends a query to
-- every bucket and merges the answers (runtime/src/index.rs).
-- KEYS[1] index key. ARGV[1] query, then its arguments:
--   top n | bottom n             sorted: the n highest / lowest entries, as member, score pairs
--   score pk                     sorted: pk's score, or nil
--   above score pk               sorted: how many entries come before (score, pk) in descending
--                                order (higher scores; equal scores with a larger pk, bytewise)
--   window score pk k            sorted: { first, entries }: the entries from position
--                                `above - k` to `above + k` in descending order, as member, score
--                                pairs, and the position of the first
--   range min max offset limit   sorted: entries with a score in [min, max], lowest first, as
--                                member, score pairs
--   after min max limit [score pk]  sorted: the first `limit` entries in [min, max] after
--                                (score, pk) in ascending order (keyset paging), as pairs
--   unique value                 unique: the claim record of value (see index.lua), if any
--   lookup prefix offset limit   lookup: pks whose member starts with prefix, in member order
--   lookup_after prefix limit [pk]  lookup: the same, after pk (keyset paging)
local q, key = ARGV[1], KEYS[1]

-- Entries before (score, pk) in descending order: all those after it in ascending order.
local function above(score, pk)
  return redis.call('ZCARD', key) - count_below(key, score, pk, true)
end

if q == 'top' or q == 'bottom' then
  local n = tonumber(ARGV[2])
  if n <= 0 then
    return {}
  end
  return redis.call(q == 'top' and 'ZREVRANGE' or 'ZRANGE', key, 0, n - 1, 'WITHSCORES')
elseif q == 'score' then
  return redis.call('ZSCORE', key, ARGV[2])
elseif q == 'above' then
  return above(ARGV[2], ARGV[3])
elseif q == 'window' then
  local at, k = above(ARGV[2], ARGV[3]), tonumber(ARGV[4])
  local first = math.max(0, at - k)
  return { first, redis.call('ZREVRANGE', key, first, at + k, 'WITHSCORES') }
elseif q == 'range' then
  return redis.call('ZRANGEBYSCORE', key, ARGV[2], ARGV[3], 'WITHSCORES', 'LIMIT', ARGV[4], ARGV[5])
elseif q == 'after' then
  local start = redis.call('ZCOUNT', key, '-inf', '(' .. ARGV[2])
  if ARGV[5] then
    start = math.max(start, count_below(key, ARGV[5], ARGV[6], true))
  end
  return entries_from(key, start, ARGV[3], tonumber(ARGV[4]))
elseif q == 'unique' then
  local record = redis.call('HGET', key, ARGV[2])
  return record and { record } or {}
elseif q == 'lookup' then
  local prefix = ARGV[2]
  local members = redis.call('ZRANGEBYLEX', key, '[' .. prefix, '(' .. prefix .. '\255',
    'LIMIT', ARGV[3], ARGV[4])
  local pks = {}
  for i, m in ipairs(members) do
    pks[i] = string.sub(m, #prefix + 1)
  end
  return pks
elseif q == 'lookup_after' then
  local prefix = ARGV[2]
  local from = ARGV[4] and ('(' .. prefix .. ARGV[4]) or ('[' .. prefix)
  local members = redis.call('ZRANGEBYLEX', key, from, '(' .. prefix .. '\255', 'LIMIT', 0, ARGV[3])
  local pks = {}
  for i, m in ipairs(members) do
    pks[i] = string.sub(m, #prefix + 1)
  end
  return pks
end
return redis.error_reply('ERR unknown index query ' .. q)

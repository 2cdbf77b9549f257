-- Index queries on one bucket's index key. (The protocol prelude comes first.) A model with
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
--   unique value                 unique: the claim record of value (see index.lua), if any
--   lookup prefix offset limit   lookup: pks whose member starts with prefix, in member order
local q, key = ARGV[1], KEYS[1]

-- True when a sorts after b, comparing bytes (Lua's own comparison follows the C locale, which
-- may not be bytewise; Redis orders members bytewise).
local function after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x > y
    end
  end
  return #a > #b
end

-- Entries before (score, pk) in descending order: a binary search over the members tied at
-- `score`, which Redis keeps in descending byte order there.
local function above(score, pk)
  local higher = redis.call('ZCOUNT', key, '(' .. score, '+inf')
  local lo, hi = 0, redis.call('ZCOUNT', key, score, score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local member = redis.call('ZREVRANGE', key, higher + mid, higher + mid)[1]
    if after(member, pk) then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return higher + lo
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
end
return redis.error_reply('ERR unknown index query ' .. q)

-- Positions in a sorted set, ordered as Redis orders it: by score, then by member bytes.
-- (Shared by query.lua and live_pks.lua.)

-- True when a sorts after b, comparing bytes (Lua's own comparison follows the C locale, which
-- may not be bytewise; Redis orders members bytewise).
local function bytes_after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x > y
    end
  end
  return #a > #b
end

-- A score as Redis writes it ('inf', '-inf', decimal) as a number.
local function score_number(text)
  if text == 'inf' or text == '+inf' then
    return math.huge
  elseif text == '-inf' then
    return -math.huge
  end
  return tonumber(text)
end

-- How many entries of `key` come before (score, pk) in ascending order: lower scores, then
-- members tied at `score` that sort before pk (up to pk itself, included, with `inclusive`).
-- A binary search over the ties: O(log N) commands of O(log N).
local function count_below(key, score, pk, inclusive)
  local lower = redis.call('ZCOUNT', key, '-inf', '(' .. score)
  local lo, hi = 0, redis.call('ZCOUNT', key, score, score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local member = redis.call('ZRANGE', key, lower + mid, lower + mid)[1]
    if bytes_after(pk, member) or (inclusive and member == pk) then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lower + lo
end

-- Up to `limit` entries from the ascending position `start`, as member, score pairs, stopping at
-- the first score above `max`.
local function entries_from(key, start, max, limit)
  local out = {}
  if limit <= 0 then
    return out
  end
  local entries = redis.call('ZRANGE', key, start, start + limit - 1, 'WITHSCORES')
  local cap = score_number(max)
  for i = 1, #entries, 2 do
    if score_number(entries[i + 1]) > cap then
      break
    end
    out[#out + 1] = entries[i]
    out[#out + 1] = entries[i + 1]
  end
  return out
end

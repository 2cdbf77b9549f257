-- Index queries on one bucket's index key. (The protocol prelude, index.lua and ranks.lua come
-- first.) A model with
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
-- A partitioned sorted index (members: partition prefix, score bytes, pk; see index.lua) answers
-- the sorted queries within one partition, in the same shapes, as verbs that start with 'p' and
-- take the partition's member prefix P first: ptop P n, pbottom P n, pabove P score pk,
-- pwindow P score pk k, prange P min max offset limit, pafter P min max limit [score pk],
-- pcount P min max, plen P; and
--   pscore P kind path part      the score of the instance whose hash is the last key, when its
--                                entry is in P (nil otherwise)
local q, key = ARGV[1], KEYS[1]

-- Entries before (score, pk) in descending order: all those after it in ascending order.
local function above(score, pk)
  return redis.call('ZCARD', key) - count_below(key, score, pk, true)
end

-- Partitioned queries: member bounds within the partition P.
local P = ARGV[2]
-- The first string after every member of P (P never ends in 0xff: it ends in UTF-8 text or ':').
local function part_end()
  return string.sub(P, 1, -2) .. string.char(string.byte(P, -1) + 1)
end
-- Members of P from `score` on, and up to `score` included (a pk never holds the byte 0xff).
local function from_score(score)
  return '[' .. P .. score_bytes(score_number(score))
end
local function to_score(score)
  return '(' .. P .. score_bytes(score_number(score)) .. '\255'
end
-- The member of (score, pk) in P.
local function member(score, pk)
  return P .. score_bytes(score_number(score)) .. pk
end
-- Members as pk, score pairs, as a sorted index answers.
local function as_pairs(members)
  local out = {}
  for _, m in ipairs(members) do
    out[#out + 1] = string.sub(m, #P + 9)
    out[#out + 1] = string.format('%.17g', bytes_score(string.sub(m, #P + 1, #P + 8)))
  end
  return out
end
local function lex(first, last, reverse, offset, count)
  if reverse then
    return redis.call('ZRANGE', key, last, first, 'BYLEX', 'REV', 'LIMIT', offset, count)
  end
  return redis.call('ZRANGE', key, first, last, 'BYLEX', 'LIMIT', offset, count)
end

if q == 'ptop' or q == 'pbottom' then
  local n = tonumber(ARGV[3])
  if n <= 0 then
    return {}
  end
  return as_pairs(lex('[' .. P, '(' .. part_end(), q == 'ptop', 0, n))
elseif q == 'pscore' then
  local ix = { kind = ARGV[3], path = ARGV[4], part = ARGV[5] }
  local text = entry_text(ix, hash_reader(KEYS[#KEYS]))
  if not text or #text ~= #P + 8 or string.sub(text, 1, #P) ~= P then
    return nil
  end
  return string.format('%.17g', bytes_score(string.sub(text, #P + 1)))
elseif q == 'pabove' then
  return redis.call('ZLEXCOUNT', key, '(' .. member(ARGV[3], ARGV[4]), '(' .. part_end())
elseif q == 'pwindow' then
  local at, k = member(ARGV[3], ARGV[4]), tonumber(ARGV[5])
  local above = redis.call('ZLEXCOUNT', key, '(' .. at, '(' .. part_end())
  local higher = k > 0 and lex('(' .. at, '(' .. part_end(), false, 0, k) or {}
  local rest = lex('[' .. P, '[' .. at, true, 0, k + 1)
  local members = {}
  for i = #higher, 1, -1 do
    members[#members + 1] = higher[i]
  end
  for _, m in ipairs(rest) do
    members[#members + 1] = m
  end
  return { above - #higher, as_pairs(members) }
elseif q == 'prange' then
  return as_pairs(lex(from_score(ARGV[3]), to_score(ARGV[4]), false, ARGV[5], ARGV[6]))
elseif q == 'pafter' then
  local from = from_score(ARGV[3])
  if ARGV[6] then
    local cursor = member(ARGV[6], ARGV[7])
    if bytes_after(cursor, string.sub(from, 2)) then
      from = '(' .. cursor
    end
  end
  return as_pairs(lex(from, to_score(ARGV[4]), false, 0, ARGV[5]))
elseif q == 'pcount' then
  return redis.call('ZLEXCOUNT', key, from_score(ARGV[3]), to_score(ARGV[4]))
elseif q == 'plen' then
  return redis.call('ZLEXCOUNT', key, '[' .. P, '(' .. part_end())
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

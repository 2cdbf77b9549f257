-- Index queries, returning pks or whole instances in one round trip. (index.lua is prepended.)
-- KEYS[1] index key. ARGV[1] query, then its arguments:
--   top n | bottom n                    sorted: the n highest / lowest
--   around pk k                         sorted: k neighbours on each side of pk (highest first)
--   range min max offset limit          sorted: values in [min, max], lowest first
--   unique value                        unique: the holder of value
--   lookup prefix offset limit          lookup: pks whose member starts with prefix
-- then: '0' (pks only) or '1' (instances), and for instances the instance key prefix
-- (`[ns:]<prefix>:{`), nc, then per container: path, kind (C_LIST, C_SET, C_MAP).
-- Instances are read by keys built here from the pks found, so on Redis Cluster this script only
-- works when the instances share the index's slot; a pk whose instance is gone is skipped.
local q = ARGV[1]
local pks, rest
if q == 'top' or q == 'bottom' then
  local n = tonumber(ARGV[2])
  pks = n > 0 and redis.call(q == 'top' and 'ZREVRANGE' or 'ZRANGE', KEYS[1], 0, n - 1) or {}
  rest = 3
elseif q == 'around' then
  local rank = redis.call('ZREVRANK', KEYS[1], ARGV[2])
  local k = tonumber(ARGV[3])
  pks = rank and redis.call('ZREVRANGE', KEYS[1], math.max(0, rank - k), rank + k) or {}
  rest = 4
elseif q == 'range' then
  pks = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[3], 'LIMIT', ARGV[4], ARGV[5])
  rest = 6
elseif q == 'unique' then
  local pk = redis.call('HGET', KEYS[1], ARGV[2])
  pks = pk and { pk } or {}
  rest = 3
elseif q == 'lookup' then
  local prefix = ARGV[2]
  local members = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. prefix, '(' .. prefix .. '\255',
    'LIMIT', ARGV[3], ARGV[4])
  pks = {}
  for i, m in ipairs(members) do
    pks[i] = string.sub(m, #prefix + 1)
  end
  rest = 5
else
  return redis.error_reply('ERR unknown index query ' .. q)
end

if ARGV[rest] == '0' then
  return pks
end
local instance_prefix, nc = ARGV[rest + 1], tonumber(ARGV[rest + 2])
local out = {}
for _, pk in ipairs(pks) do
  local hash = instance_prefix .. escape_pk(pk) .. '}'
  local fields = redis.call('HGETALL', hash)
  if #fields > 0 then
    local item = { pk, fields }
    for c = 1, nc do
      local key = hash .. ':' .. ARGV[rest + 1 + 2 * c]
      local kind = ARGV[rest + 2 + 2 * c]
      if kind == C_LIST then
        item[#item + 1] = redis.call('LRANGE', key, 0, -1)
      elseif kind == C_SET then
        item[#item + 1] = redis.call('SMEMBERS', key)
      else
        item[#item + 1] = redis.call('HGETALL', key)
      end
    end
    out[#out + 1] = item
  end
end
return out

-- Reads whole instances, each atomically with its containers. (The protocol prelude and
-- common.lua come first.) Every key is declared, so on a cluster the instances of one call share a slot.
-- KEYS: per instance, its hash, then its nc container keys in the model's order; with a
-- refresh (below), then its fence hash and its bucket's registry.
-- ARGV[1] nc, then nc container kinds (C_LIST, C_SET, C_MAP, C_ZSET); then, for a model whose reads
-- re-arm the TTL (sliding expiry, `refresh: read`): the ttl in ms, then each instance's pk. An
-- instance found that still expires gets the TTL on every key and its registry entry.
-- Returns per instance { hash fields (HGETALL), container 1, ..., container nc }; a missing
-- instance gives { {} } (its containers are not read).
local nc = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2 + nc] or '0')
local stride = 1 + nc + (ttl > 0 and 2 or 0)
local now
if ttl > 0 then
  now = now_ms()
end
local out = {}
for k = 1, #KEYS, stride do
  local item = { redis.call('HGETALL', KEYS[k]) }
  if #item[1] > 0 then
    for c = 1, nc do
      item[c + 1] = read_container(ARGV[1 + c], KEYS[k + c])
    end
    if ttl > 0 and redis.call('PTTL', KEYS[k]) > 0 then
      for j = k, k + nc + 1 do
        redis.call('PEXPIRE', KEYS[j], ttl)
      end
      local pk = ARGV[2 + nc + (k - 1) / stride + 1]
      redis.call('ZADD', KEYS[k + nc + 2], now + ttl, pk)
    end
  end
  out[#out + 1] = item
end
return out

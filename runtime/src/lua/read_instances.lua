-- Reads whole instances, each atomically with its containers. (The protocol prelude comes
-- first.) Every key is declared, so on a cluster the instances of one call share a slot.
-- KEYS: per instance, its hash, then its nc container keys in the model's order.
-- ARGV[1] nc, then nc container kinds (C_LIST, C_SET, C_MAP).
-- Returns per instance { hash fields (HGETALL), container 1, ..., container nc }; a missing
-- instance gives { {} } (its containers are not read).
local nc = tonumber(ARGV[1])
local out = {}
for k = 1, #KEYS, 1 + nc do
  local item = { redis.call('HGETALL', KEYS[k]) }
  if #item[1] > 0 then
    for c = 1, nc do
      local key, kind = KEYS[k + c], ARGV[1 + c]
      if kind == C_LIST then
        item[c + 1] = redis.call('LRANGE', key, 0, -1)
      elseif kind == C_SET then
        item[c + 1] = redis.call('SMEMBERS', key)
      else
        item[c + 1] = redis.call('HGETALL', key)
      end
    end
  end
  out[#out + 1] = item
end
return out

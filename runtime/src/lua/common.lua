-- Small functions several scripts share (after the protocol prelude).

-- The server's time in milliseconds (the clock that expires keys).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Every element of a container key of kind `kind` (C_LIST, C_SET, C_MAP, C_ZSET), as
-- runtime/src/stored.rs decodes them: LRANGE, SMEMBERS, HGETALL, ZRANGE WITHSCORES.
local function read_container(kind, key)
  if kind == C_LIST then
    return redis.call('LRANGE', key, 0, -1)
  elseif kind == C_SET then
    return redis.call('SMEMBERS', key)
  elseif kind == C_ZSET then
    return redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  end
  return redis.call('HGETALL', key)
end

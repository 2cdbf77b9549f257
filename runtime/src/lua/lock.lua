-- Locks: acquire, release and extend, each atomic.
-- KEYS[1] the lock key; for a lock on an instance, KEYS[2] the instance's fence hash and
-- KEYS[3] the instance hash (same hash tag, so same slot; runtime/src/keys.rs).
-- ARGV[1] 'acquire' | 'release' | 'extend', ARGV[2] token, ARGV[3] ttl in ms, ARGV[4] the
-- lock's name on its instance ('' for a lock of its own), ARGV[5] (release) its fencing number.
--
-- Fencing numbers: a new one is max(server time in microseconds, the last one + 1), so numbers
-- grow strictly while the last one is remembered, and from the clock once it is forgotten. A
-- lock on an instance remembers it in the instance's fence hash (field = name), which lives and
-- dies with the instance (same TTL; removed by delete_instance.lua with the lock keys). A lock
-- of its own remembers it across a release: the key then holds '-<number>' for another ttl.
--
-- acquire: on a missing instance: -1, nothing written. Otherwise, when the lock is free (no
--          key, or a released one), SET PX and the new fencing number; otherwise nil.
-- release: gives the lock up only if it still holds our token: 1, or 0 when it was lost.
-- extend:  resets the TTL only if the lock still holds our token: 1, or 0 when it was lost.
local mode, token, ttl, name = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local on_instance = KEYS[3] ~= nil
local held = redis.call('GET', KEYS[1])
if mode == 'acquire' then
  if on_instance and redis.call('EXISTS', KEYS[3]) == 0 then
    return -1
  end
  local released = held and string.sub(held, 1, 1) == '-'
  if held and not released then
    return false
  end
  local last
  if on_instance then
    last = redis.call('HGET', KEYS[2], name)
  elseif released then
    last = string.sub(held, 2)
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local fence = math.max(now, (tonumber(last) or 0) + 1)
  redis.call('SET', KEYS[1], token, 'PX', ttl)
  if on_instance then
    redis.call('HSET', KEYS[2], name, string.format('%d', fence))
    local left = redis.call('PTTL', KEYS[3])
    if left > 0 then
      redis.call('PEXPIRE', KEYS[2], left)
    else
      redis.call('PERSIST', KEYS[2])
    end
  end
  return fence
end
if held ~= token then
  return 0
end
if mode == 'extend' then
  redis.call('PEXPIRE', KEYS[1], ttl)
elseif on_instance then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], '-' .. ARGV[5], 'PX', ttl)
end
return 1

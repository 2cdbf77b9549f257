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
--
-- acquire_all takes several locks on instances at once, all or nothing (one server, or keys of
-- one slot): KEYS = per lock its key, fence hash and instance hash; ARGV[2] ttl in ms, then per
-- lock its token and name. Returns the fencing numbers in KEYS order; or, with nothing written,
-- -i when the instance of lock i is missing, i when lock i is held.
--
-- release_all gives up several locks on instances at once (one server, or keys of one slot):
-- KEYS = the lock keys, ARGV[2..] their tokens. Each is deleted only if it still holds its
-- token; returns per lock 1, or 0 when it was lost.

-- Whether lock `key` is free, given what it holds.
local function free(held)
  return not held or string.sub(held, 1, 1) == '-'
end

-- Takes free lock `key` (its value `held`) for `token`; returns the new fencing number.
local function take(key, fences, hash, held, token, ttl, name)
  local last
  if hash then
    last = redis.call('HGET', fences, name)
  elseif held then
    last = string.sub(held, 2)
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local fence = math.max(now, (tonumber(last) or 0) + 1)
  redis.call('SET', key, token, 'PX', ttl)
  if hash then
    redis.call('HSET', fences, name, string.format('%d', fence))
    local left = redis.call('PTTL', hash)
    if left > 0 then
      redis.call('PEXPIRE', fences, left)
    else
      redis.call('PERSIST', fences)
    end
  end
  return fence
end

local mode = ARGV[1]
if mode == 'acquire_all' then
  local ttl, count = ARGV[2], #KEYS / 3
  local held = {}
  for i = 1, count do
    if redis.call('EXISTS', KEYS[3 * i]) == 0 then
      return -i
    end
    held[i] = redis.call('GET', KEYS[3 * i - 2])
    if not free(held[i]) then
      return i
    end
  end
  local numbers = {}
  for i = 1, count do
    numbers[i] = take(KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], held[i], ARGV[1 + 2 * i], ttl,
      ARGV[2 + 2 * i])
  end
  return numbers
end

if mode == 'release_all' then
  local released = {}
  for i, key in ipairs(KEYS) do
    released[i] = 0
    if redis.call('GET', key) == ARGV[1 + i] then
      redis.call('DEL', key)
      released[i] = 1
    end
  end
  return released
end

local token, ttl, name = ARGV[2], ARGV[3], ARGV[4]
local held = redis.call('GET', KEYS[1])
if mode == 'acquire' then
  if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 0 then
    return -1
  end
  if not free(held) then
    return false
  end
  return take(KEYS[1], KEYS[2], KEYS[3], held, token, ttl, name)
end
if held ~= token then
  return 0
end
if mode == 'extend' then
  redis.call('PEXPIRE', KEYS[1], ttl)
elseif KEYS[3] then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], '-' .. ARGV[5], 'PX', ttl)
end
return 1

-- Locks: acquire, release and extend, each atomic.
-- KEYS[1] the lock key, KEYS[2] its fencing counter (same hash tag, so same slot).
-- ARGV[1] 'acquire' | 'release' | 'extend', ARGV[2] token, ARGV[3] ttl in ms (acquire, extend).
-- acquire: SET NX PX; on success the fencing counter is incremented and returned (every
--          acquisition gets a larger number), otherwise nil.
-- release: deletes the lock only if it still holds our token: 1, or 0 when it was lost.
-- extend:  resets the TTL only if the lock still holds our token: 1, or 0 when it was lost.
local mode, token = ARGV[1], ARGV[2]
if mode == 'acquire' then
  if redis.call('SET', KEYS[1], token, 'NX', 'PX', ARGV[3]) then
    return redis.call('INCR', KEYS[2])
  end
  return false
end
if redis.call('GET', KEYS[1]) ~= token then
  return 0
end
if mode == 'release' then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1

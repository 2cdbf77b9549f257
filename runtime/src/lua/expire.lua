-- Sets or removes one instance's expiry: every key of the instance, its registry entry and its
-- memo entry move together. (The protocol prelude and index.lua come first.)
-- KEYS[1] instance hash, KEYS[2] registry of its bucket, KEYS[3] its fence hash, KEYS[4 .. 3+nc]
-- containers, then the memo and the index keys kept in this slot, as ARGV places them.
-- ARGV[1] 'expire' or 'persist', ARGV[2] pk, ARGV[3] ttl in ms (expire), ARGV[4] nc,
-- ARGV[5] the memo's position in KEYS (0 for none), ARGV[6] ni, then per index: kind, field
-- path, old path ('' unless renamed), and the position of its key in KEYS.
-- Returns 1. Errors: E_NOTFOUND 1 (no such instance; nothing written).
local hash, pk, nc = KEYS[1], ARGV[2], tonumber(ARGV[4])
if redis.call('EXISTS', hash) == 0 then
  return fail(E_NOTFOUND, 1)
end
local memo = tonumber(ARGV[5]) > 0 and KEYS[tonumber(ARGV[5])] or nil
local expire = ARGV[1] == 'expire'
for k = 1, 3 + nc do
  if k ~= 2 then
    if expire then
      redis.call('PEXPIRE', KEYS[k], ARGV[3])
    else
      redis.call('PERSIST', KEYS[k])
    end
  end
end
if expire then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), pk)
else
  redis.call('ZADD', KEYS[2], '+inf', pk)
end
if memo then
  local entries, pos = {}, 7
  for _ = 1, tonumber(ARGV[6]) do
    local kind, path, old, at = ARGV[pos], ARGV[pos + 1], ARGV[pos + 2], tonumber(ARGV[pos + 3])
    local text = redis.call('HGET', hash, path)
    if not text and old ~= '' then
      text = redis.call('HGET', hash, old)
    end
    if text and at > 0 then
      entries[KEYS[at]] = kind .. text
    end
    pos = pos + 4
  end
  memo_write(memo, pk, hash, entries, expire)
end
return 1

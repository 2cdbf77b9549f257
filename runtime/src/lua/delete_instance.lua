-- Deletes an instance, its containers, its registry entry and its index entries atomically.
-- (index.lua is prepended.)
-- KEYS[1] instance hash, KEYS[2] registry, KEYS[3 .. 2+nc] containers, KEYS[3+nc ..] index keys
-- ARGV[1] pk, ARGV[2] nc, then per index in KEYS order: kind, field path.
-- Returns 1 if the instance existed, 0 otherwise.
local hash, pk = KEYS[1], ARGV[1]
local existed = redis.call('EXISTS', hash)
local nc = tonumber(ARGV[2])
local pos = 3
for k = 3 + nc, #KEYS do
  index_move(ARGV[pos], KEYS[k], pk, redis.call('HGET', hash, ARGV[pos + 1]) or nil, nil)
  pos = pos + 2
end
for k = 1, 2 + nc do
  if k ~= 2 then
    redis.call('DEL', KEYS[k])
  end
end
redis.call('ZREM', KEYS[2], pk)
return existed

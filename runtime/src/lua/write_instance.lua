-- Writes a whole instance atomically: insert (refused when it exists) or save (replace).
-- KEYS[1]  instance hash
-- KEYS[2]  registry of live pks (sorted set; score = expiry in ms, or +inf)
-- KEYS[3..] container keys, in the model's fixed order
-- ARGV[1]  'insert' or 'save'
-- ARGV[2]  pk text (registry member)
-- ARGV[3]  ttl in milliseconds, '0' for none
-- ARGV[4]  number n of hash field/value pairs, followed by the 2n pair items
-- then, per container in KEYS order: kind ('L', 'S' or 'H'), element count c, then the c items
-- (2c for 'H').
if ARGV[1] == 'insert' and redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('RAPYER_EXISTS instance already exists')
end

-- Lua's unpack is limited to a few thousand values: send big containers in chunks.
local CHUNK = 1000
local function call_chunked(cmd, key, first, count, width)
  local i = 0
  while i < count do
    local n = math.min(CHUNK, count - i)
    local from = first + i * width
    redis.call(cmd, key, unpack(ARGV, from, from + n * width - 1))
    i = i + n
  end
end

redis.call('DEL', KEYS[1])
for k = 3, #KEYS do
  redis.call('DEL', KEYS[k])
end

local ttl = tonumber(ARGV[3])
local pairs_count = tonumber(ARGV[4])
call_chunked('HSET', KEYS[1], 5, pairs_count, 2)
local pos = 5 + 2 * pairs_count
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end

local commands = { L = 'RPUSH', S = 'SADD', H = 'HSET' }
for k = 3, #KEYS do
  local kind = ARGV[pos]
  local count = tonumber(ARGV[pos + 1])
  local width = (kind == 'H') and 2 or 1
  if count > 0 then
    call_chunked(commands[kind], KEYS[k], pos + 2, count, width)
    if ttl > 0 then
      redis.call('PEXPIRE', KEYS[k], ttl)
    end
  end
  pos = pos + 2 + count * width
end

if ttl > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
else
  redis.call('ZADD', KEYS[2], '+inf', ARGV[2])
end
return 1

-- Live pks of a model: registry members whose expiry (score, ms) is in the future.
-- KEYS[1] registry; ARGV[1] 'count' or 'list'. Uses the server's clock, the one that expires keys.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] == 'count' then
  return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')

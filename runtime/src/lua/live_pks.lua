-- Live pks of a model's bucket: registry members whose expiry (score, ms) is in the future.
-- (The protocol prelude, common.lua and ranks.lua come first.) Uses the server's clock, the one that expires
-- keys.
-- KEYS[1] registry; ARGV[1] 'count', 'list', or 'page' with ARGV[2] limit [ARGV[3] score,
-- ARGV[4] pk]: the first `limit` live entries after (score, pk) in (expiry, pk) order, as
-- member, score pairs (keyset paging).
local now = now_ms()
if ARGV[1] == 'count' then
  return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
elseif ARGV[1] == 'page' then
  local start = redis.call('ZCOUNT', KEYS[1], '-inf', now)
  if ARGV[3] then
    start = math.max(start, count_below(KEYS[1], ARGV[3], ARGV[4], true))
  end
  return entries_from(KEYS[1], start, '+inf', tonumber(ARGV[2]))
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')

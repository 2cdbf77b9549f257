-- The one function of the compact layouts (see ops_single.lua), defined before the dispatch.
-- Runs one op of the compact layout on `key` of the instance whose hash is `hash`, its
-- arguments ARGV[first .. first + argc - 1] (an incr's: field, delta, default): the command's
-- reply, or an error table when the instance is missing (then also true) or Redis refused the
-- command (nothing of the op written either way: a single command applies whole or not at all).
local function run_compact(hash, key, code, copy_ttl, first, argc)
  if redis.call('EXISTS', hash) == 0 then
    return fail(E_NOTFOUND, 1), true
  end
  local reply
  if code == OP_INCR then
    local field, seed = ARGV[first], ARGV[first + 2]
    if seed ~= '' then
      redis.pcall('HSETNX', key, field, seed)
    end
    reply = redis.pcall('HINCRBY', key, field, ARGV[first + 1])
    -- Lua numbers are doubles: beyond 2^53 the exact value is read back as text.
    if type(reply) == 'number' and (reply >= 9007199254740992 or reply <= -9007199254740992) then
      reply = redis.call('HGET', key, field)
    end
  else
    reply = redis.pcall(code, key, unpack(ARGV, first, first + argc - 1))
  end
  if type(reply) == 'table' and reply.err then
    return reply
  end
  if copy_ttl == '1' then
    local ttl = redis.call('PTTL', hash)
    if ttl > 0 then
      redis.call('PEXPIRE', key, ttl)
    end
  end
  return reply
end

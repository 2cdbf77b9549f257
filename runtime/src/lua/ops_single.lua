-- (The protocol prelude, ops_single.lua, index.lua and ops.lua are sent as one script.)
-- Runs a batch of field operations atomically: a single field operation is a batch of one, a
-- pipeline is a batch of many. Op codes, their key types and the error codes come from the
-- prelude (runtime/src/protocol.rs).
--
-- Single operations use a compact layout, handled here before anything else is built (this is
-- the hot path): KEYS = { instance hash [, target key] }, ARGV = { 's', code, ttl ('1' when a
-- created container key must copy the hash's TTL), args... }. The reply is the command's own.
-- A single command applies entirely or not at all, so no precheck runs first; when Redis
-- refuses the command, nothing was written and the general part below (which this script falls
-- through to) says why, with the same typed errors as a batch. incrf, lset and mv, which need
-- a precheck, and huge argument lists always use the general layout (see ops.lua).
local single_failure
if ARGV[1] == 's' then
  local hash, code = KEYS[1], ARGV[2]
  if redis.call('EXISTS', hash) == 0 then
    return fail(E_NOTFOUND, 1)
  end
  local key = KEYS[2] or hash
  local reply
  if code == OP_INCR then
    if ARGV[6] ~= '' then
      redis.pcall('HSETNX', key, ARGV[4], ARGV[6])
    end
    reply = redis.pcall('HINCRBY', key, ARGV[4], ARGV[5])
    -- Lua numbers are doubles: beyond 2^53 the exact value is read back as text.
    if type(reply) == 'number' and (reply >= 9007199254740992 or reply <= -9007199254740992) then
      reply = redis.call('HGET', key, ARGV[4])
    end
  else
    reply = redis.pcall(code, key, unpack(ARGV, 4))
  end
  if type(reply) == 'table' and reply.err then
    single_failure = reply.err
  else
    if ARGV[3] == '1' then
      local ttl = redis.call('PTTL', hash)
      if ttl > 0 then
        redis.call('PEXPIRE', key, ttl)
      end
    end
    return reply
  end
end

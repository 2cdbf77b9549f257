-- The field operations script, in the order a script sends its parts: the protocol prelude,
-- ops_compact.lua, this dispatch, index.lua, ops_lib.lua, then ops.lua (runtime/src/scripts.rs).
-- A library defines every function once and runs this dispatch, then ops.lua, on each call.
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
  local reply, missing = run_compact(KEYS[1], KEYS[2] or KEYS[1], ARGV[2], ARGV[3], 4, #ARGV - 3)
  if missing or type(reply) ~= 'table' or not reply.err then
    return reply
  end
  single_failure = reply.err
end

-- Independent single operations that concurrent callers issued while an earlier call was in
-- flight, sent together by the client (runtime/src/ops/coalesce.rs): ARGV = { 'm', n, then per
-- op: the KEYS positions of its instance hash and of its key, code, ttl flag, argc, then argc
-- arguments }. Each op runs as it would alone and has its own outcome. Returns { flags, reply
-- of op 1, reply of op 2, ... }: flags has one letter per op, '.' when it applied, 'x' when it
-- failed and wrote nothing (its reply is then nil; the client learns why by running it alone).
-- Errors are not sent as elements: a client library may fail a whole reply that holds one. No
-- op depends on another: they are not all or nothing.
if ARGV[1] == 'm' then
  local out, flags, pos = { '' }, {}, 3
  for i = 1, tonumber(ARGV[2]) do
    local hash, key = KEYS[tonumber(ARGV[pos])], KEYS[tonumber(ARGV[pos + 1])]
    local argc = tonumber(ARGV[pos + 4])
    local reply = run_compact(hash, key, ARGV[pos + 2], ARGV[pos + 3], pos + 5, argc)
    if type(reply) == 'table' and reply.err then
      flags[i] = 'x'
      reply = false
    else
      flags[i] = '.'
    end
    -- A nil reply would end the array early: false is sent as nil all the same.
    if reply == nil then
      reply = false
    end
    out[i + 1] = reply
    pos = pos + 5 + argc
  end
  out[1] = table.concat(flags)
  return out
end

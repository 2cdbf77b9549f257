-- (ops_single.lua, index.lua and ops.lua are sent as one script.)
-- Runs a batch of field operations atomically: a single field operation is a batch of one, a
-- pipeline is a batch of many. Three phases, so that a batch is applied whole or not at all:
--   1. guards: every instance the batch touches must exist (no ghost instances);
--   2. precheck (batches of more than one op, and float increments): key types, stored numbers,
--      integer overflow and float finiteness are checked against the state each op will see,
--      simulated through the batch, before anything is written;
--   3. execution, in the caller's order.
--
-- General layout. KEYS: every key the batch touches.
-- ARGV: g, then g key indexes (instance hashes that must exist);
--       l, then l pairs of lock key index and token (locks that must still be held);
--       n, then per op: code, key index, ttl source (index of the instance hash whose TTL a
--       container key created by this op must copy, 0 for none), index kind ('-' for none;
--       otherwise followed by the index key's index and the pk), argc, then argc arguments.
-- Codes are Redis commands, plus:
--   incr f delta default / incrf f delta default   HINCRBY / HINCRBYFLOAT, seeding a missing
--                                                  field with default ('' for none) first;
--                                                  the reply is the new value (as text when
--                                                  beyond 2^53, which a Lua number cannot hold)
--   lset i v                                       LSET that answers 0 when i is out of range
--   mv new old                                     move a renamed field's value to its new name
-- Returns one reply per op (nil as false). Errors: RAPYER_NOTFOUND <guard>, RAPYER_LOCKLOST <lock>, RAPYER_TYPE <op>
-- <what>, RAPYER_OVERFLOW <op> <what>, RAPYER_UNIQUE <op> <holder pk>, RAPYER_FAILED <op> <redis error> (nothing applied),
-- RAPYER_PARTIAL <op> <redis error> (ops before <op> applied; only on data changed under us).

-- Single operations use a compact layout, checked before anything else is built (this is the
-- hot path): KEYS = { instance hash [, target key] }, ARGV = { 's', code, ttl ('1' when a
-- created container key must copy the hash's TTL), args... }. The reply is the command's own.
-- A single command applies entirely or not at all, so no precheck is needed; incrf and lset,
-- which need one, and huge argument lists always use the general layout.
if ARGV[1] == 's' then
  local hash, code = KEYS[1], ARGV[2]
  if redis.call('EXISTS', hash) == 0 then
    return redis.error_reply('RAPYER_NOTFOUND 1')
  end
  local key = KEYS[2] or hash
  if code == 'incr' then
    if ARGV[6] ~= '' then
      redis.call('HSETNX', key, ARGV[4], ARGV[6])
    end
    local reply = redis.call('HINCRBY', key, ARGV[4], ARGV[5])
    if ARGV[3] == '1' then
      local ttl = redis.call('PTTL', hash)
      if ttl > 0 then
        redis.call('PEXPIRE', key, ttl)
      end
    end
    -- Lua numbers are doubles: beyond 2^53 the exact value is read back as text.
    if reply >= 9007199254740992 or reply <= -9007199254740992 then
      return redis.call('HGET', key, ARGV[4])
    end
    return reply
  end
  local reply = redis.call(code, key, unpack(ARGV, 4))
  if ARGV[3] == '1' then
    local ttl = redis.call('PTTL', hash)
    if ttl > 0 then
      redis.call('PEXPIRE', key, ttl)
    end
  end
  return reply
end


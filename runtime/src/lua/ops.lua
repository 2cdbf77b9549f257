-- The general layout of the field operations script (after the prelude, ops_single.lua and
-- index.lua). Three phases, so that a batch is applied whole or not at all:
--   1. guards: every instance the batch touches must exist (no ghost instances), and every lock
--      the batch requires must still hold its holder's token;
--   2. precheck (batches of more than one op, float increments, unique fields): key types,
--      stored numbers, integer overflow, float finiteness and unique values are checked against
--      the state each op will see, simulated through the batch, before anything is written;
--   3. execution, in the caller's order.
--
-- KEYS: every key the batch touches, once.
-- ARGV: g, then g key positions (instance hashes that must exist);
--       l, then l triples of lock key position, token and release (locks that must still be
--       held; those whose release is 1 are deleted once the ops are applied, as lock.lua
--       releases an instance's lock);
--       the lease: server time (ms) after which nothing may be written, 0 for none (unique
--       values claimed in another slot are held until then; see runtime/src/claims.rs);
--       r, then per instance whose TTL the batch re-arms (sliding expiry): ttl in ms, the
--       registry's position, the pk, k, then k key positions (the instance hash first);
--       n, then per op either a plain op (no TTL to copy, no index, no further keys): code, key
--       position, argc, then argc arguments; or RICH ('+'), then: code, key position, ttl
--       source (position of the instance hash whose TTL
--       a container key created by this op must copy, 0 for none), index kind ('-' for none;
--       otherwise followed by the index key's position, the pk, and the position of the
--       bucket's memo of expiring instances, 0 for none: see index.lua), np (the partitioned
--       sorted indexes whose entry the op can move: on its field, or partitioned by it; when
--       np > 0 followed by the pk, the memo's position or 0, then per index: kind, key
--       position, field path, partition field path), e, then e positions of further keys the
--       op touches, argc, then argc arguments.
-- Op codes are listed in runtime/src/protocol.rs (OpCode): Redis commands run on the op's key,
-- and the script's own lowercase codes:
--   incr f delta default / incrf f delta default   HINCRBY / an f64 addition in the script
--                                                  (HGET, HSET), from default ('' for none)
--                                                  when the field is missing; the reply is
--                                                  the new value (as text for incrf, and for
--                                                  incr beyond 2^53, which a Lua number
--                                                  cannot hold)
--   lset i v                                       LSET that answers 0 when i is out of range
--   mv new old                                     move a renamed field's value to its new name
--   expect f [v]                                   f must hold v (or nothing): checked before
--                                                  anything is written
--   expiry ms pk memo? k ni (kind path old part)*ni  sets (ms) or removes ('') the instance's
--                                                  expiry (set_expiry in index.lua); the
--                                                  further keys: the registry, the memo when
--                                                  memo? is '1', the instance's k keys (its
--                                                  hash first), then the ni index keys
--   take k                                         HGET and HDEL of a map entry
--   zincr member by                                a member's score plus by in f64 (from 0),
--                                                  checked finite; replies the new score
--   append f suffix                                the field's text with suffix appended;
--                                                  replies the new length
--   dtadd f seconds nanos default                  a datetime field plus a duration; replies
--                                                  the new stored text
--   sunion / sinter / sdiff                        SUNION / SINTER / SDIFF of the op's set and
--                                                  the further keys
--   cond f cmp kind value default                  the batch fails (E_CONDITION, nothing
--                                                  written) unless f compares so to value
--   imax / imin / fmax / fmin f value default      keeps the larger / smaller; replies it
--   cas f expected new                             writes new only when f holds expected
--                                                  ('-' unset, else '=' and the text);
--                                                  replies 1 or 0
-- Returns one reply per op (nil as false). Errors (payloads in protocol.rs, ErrorCode):
-- E_NOTFOUND <guard>, E_LOCKLOST <lock>, E_LEASE 1, E_CHANGED <op>, E_TYPE <op> <what>,
-- E_OVERFLOW <op> <what>,
-- E_UNIQUE <op> <len>:<holder><value>, E_FAILED <op> <redis error> (nothing applied),
-- E_PARTIAL <op> <redis error> (ops before <op> applied; only on data changed under us).

-- The precheck's simulation starts empty on every call (a library keeps its upvalues).
sim, cleared, zsim, owners, types = {}, {}, {}, {}, {}

-- A single op of the compact layout that Redis refused (see ops_single.lua): nothing was
-- written; the precheck says why when it can.
if single_failure then
  local op = { code = ARGV[2], key = KEYS[2] or KEYS[1], first = 4, argc = #ARGV - 3 }
  return precheck(1, op) or fail(E_FAILED, 1, single_failure)
end

local pos = 1
local function next_arg()
  local v = ARGV[pos]
  pos = pos + 1
  return v
end

local guards = tonumber(next_arg())
for i = 1, guards do
  if redis.call('EXISTS', KEYS[tonumber(next_arg())]) == 0 then
    return fail(E_NOTFOUND, i)
  end
end

-- Locks the batch requires: each must still hold its holder's token, or nothing is written.
local locks = tonumber(next_arg())
local releases = {}
for i = 1, locks do
  local key = KEYS[tonumber(next_arg())]
  if redis.call('GET', key) ~= next_arg() then
    return fail(E_LOCKLOST, i)
  end
  if next_arg() == '1' then
    releases[#releases + 1] = key
  end
end

local lease = tonumber(next_arg())
if lease > 0 then
  if now_ms() > lease then
    return fail(E_LEASE, 1)
  end
end

-- Sliding expiry: re-armed after the ops, for instances that still expire (a persisted one
-- stays persisted until its next whole-instance write).
local refreshes = {}
for i = 1, tonumber(next_arg()) do
  local rf = { ttl = next_arg(), registry = KEYS[tonumber(next_arg())], pk = next_arg(), keys = {} }
  for j = 1, tonumber(next_arg()) do
    rf.keys[j] = KEYS[tonumber(next_arg())]
  end
  refreshes[i] = rf
end

-- Each op's table is built by one constructor (a table grown field by field rehashes as it
-- grows), and a plain op shares one empty list of further keys: Lua's allocations and its
-- collector are most of a batch's cost per op.
local ops = {}
local count = tonumber(next_arg())
for i = 1, count do
  local code = ARGV[pos]
  if code ~= RICH then
    -- A plain op: code, key position, argc, then argc arguments.
    local argc = tonumber(ARGV[pos + 2])
    ops[i] = { code = code, key = KEYS[tonumber(ARGV[pos + 1])], extra = NO_KEYS, argc = argc,
      first = pos + 3 }
    pos = pos + 3 + argc
  else
    code = ARGV[pos + 1]
    local key, ttl, kind = KEYS[tonumber(ARGV[pos + 2])], tonumber(ARGV[pos + 3]), ARGV[pos + 4]
    pos = pos + 5
    local ix, parts, extra
    if kind ~= '-' then
      local memo = tonumber(ARGV[pos + 2])
      ix = { kind = kind, key = KEYS[tonumber(ARGV[pos])], pk = ARGV[pos + 1],
        memo = memo > 0 and KEYS[memo] or nil }
      pos = pos + 3
    end
    local np = tonumber(ARGV[pos])
    pos = pos + 1
    if np > 0 then
      local memo = tonumber(ARGV[pos + 1])
      parts = { pk = ARGV[pos], memo = memo > 0 and KEYS[memo] or nil }
      pos = pos + 2
      for j = 1, np do
        parts[j] = { kind = ARGV[pos], key = KEYS[tonumber(ARGV[pos + 1])], path = ARGV[pos + 2],
          part = ARGV[pos + 3] }
        pos = pos + 4
      end
    end
    local e = tonumber(ARGV[pos])
    pos = pos + 1
    extra = NO_KEYS
    if e > 0 then
      extra = {}
      for j = 1, e do
        extra[j] = KEYS[tonumber(ARGV[pos + j - 1])]
      end
      pos = pos + e
    end
    local argc = tonumber(ARGV[pos])
    ops[i] = { code = code, key = key, ttl_from = ttl > 0 and KEYS[ttl] or nil, ix = ix,
      parts = parts, extra = extra, argc = argc, first = pos + 1 }
    pos = pos + 1 + argc
  end
end

for i, op in ipairs(ops) do
  if needs_precheck(op, count) then
    local err = precheck(i, op)
    if err then
      return err
    end
  end
end


local replies = {}
local wrote = false
for i, op in ipairs(ops) do
  local old_text, old_parts
  if op.ix then
    old_text = redis.call('HGET', op.key, ARGV[op.first]) or nil
  end
  if op.parts then
    old_parts = {}
    op.parts.read = hash_reader(op.key)
    for j, ix in ipairs(op.parts) do
      old_parts[j] = entry_text(ix, op.parts.read) or false
    end
  end
  local reply = apply_op(op)
  if type(reply) == 'table' and reply.err then
    if wrote then
      return fail(E_PARTIAL, i, reply.err)
    end
    -- Nothing written: an op that skipped the precheck (a batch of one) learns why from it.
    return (not needs_precheck(op, count) and precheck(i, op)) or fail(E_FAILED, i, reply.err)
  end
  if op.ix then
    local new_text = redis.call('HGET', op.key, ARGV[op.first]) or nil
    index_move(op.ix.kind, op.ix.key, op.ix.pk, old_text, new_text)
    if op.ix.memo and redis.call('PTTL', op.key) > 0 then
      memo_note(op.ix.memo, op.ix.pk, op.key, op.ix.key, op.ix.kind, new_text)
    end
  end
  if op.parts then
    for j, ix in ipairs(op.parts) do
      local new_entry = entry_text(ix, op.parts.read)
      index_move(ix.kind, ix.key, op.parts.pk, old_parts[j] or nil, new_entry)
      if op.parts.memo and redis.call('PTTL', op.key) > 0 then
        memo_note(op.parts.memo, op.parts.pk, op.key, ix.key, ix.kind, new_entry)
      end
    end
  end
  if op.ttl_from then
    local ttl = redis.call('PTTL', op.ttl_from)
    if ttl > 0 then
      redis.call('PEXPIRE', op.key, ttl)
    end
  end
  if not READS[op.code] then
    wrote = true
  end
  if reply == nil then
    reply = false
  end
  replies[i] = reply
end
if #refreshes > 0 then
  local now = now_ms()
  for _, rf in ipairs(refreshes) do
    if redis.call('PTTL', rf.keys[1]) > 0 then
      for _, key in ipairs(rf.keys) do
        redis.call('PEXPIRE', key, rf.ttl)
      end
      redis.call('ZADD', rf.registry, now + tonumber(rf.ttl), rf.pk)
    end
  end
end
for _, key in ipairs(releases) do
  redis.call('DEL', key)
end
return replies

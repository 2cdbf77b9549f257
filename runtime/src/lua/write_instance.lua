-- Writes a whole instance atomically: insert (refused when it exists), save (create or
-- replace), update (replace, refused when missing) or get_or_insert (insert, or read what
-- exists), with its registry entry and its index entries. (The protocol prelude and index.lua
-- come first; the script ends by calling write_one once, or once per instance: many.lua.)
-- KEYS[1]  instance hash
-- KEYS[2]  the registry of live pks of its bucket (sorted set; score = expiry in ms, or +inf)
-- KEYS[3 .. 2+nc]  container keys, in the model's fixed order
-- KEYS[3+nc ..]  the index keys kept in this slot, then the lock key (if any), as ARGV places them
-- ARGV[1]  'insert', 'save', 'update' or 'get_or_insert'
-- ARGV[2]  pk text (registry member)
-- ARGV[3]  ttl in milliseconds, '0' for none
-- ARGV[4]  nc, the number of container keys; ARGV[5] ni, the number of indexes
-- ARGV[6]  lock token, '' for none; ARGV[7] the lock key's position in KEYS
-- ARGV[8]  lease: the server time (ms) after which nothing may be written, '0' for none (unique
--          values claimed in another slot are held until then; see runtime/src/claims.rs)
-- ARGV[9]  the position in KEYS of the bucket's memo of expiring instances (index.lua), 0 when
--          the model has no expiry or no index
-- ARGV[10] number n of hash field/value pairs, followed by the 2n pair items
-- then, per container in KEYS order: kind (C_LIST, C_SET, C_MAP or C_ZSET), element count c,
-- then the c items (2c for C_MAP: field, value; for C_ZSET: score, member); then, per index:
-- kind, field path, partition field path ('' unless partitioned), and the position of its key in
-- KEYS, or 0 for a unique index kept in another slot by claims.
-- Returns the old stored text of each index kept elsewhere (false when unset), in order; for
-- get_or_insert of an existing pk, { -1, { hash fields, container 1, ..., container nc } }
-- instead (as read_instances.lua reads it), writing nothing.
-- Errors (payloads in runtime/src/protocol.rs): E_LOCKLOST 1 (the lock no longer holds the
-- token), E_LEASE 1 (the lease ran out), E_EXISTS 1 (insert of an existing pk), E_NOTFOUND 1
-- (update of a missing pk), E_UNIQUE <index>
-- <len>:<holder><value> (a unique value held by another instance). Each leaves everything
-- untouched.
local function write_one(KEYS, ARGV)
  local hash, pk = KEYS[1], ARGV[2]
  local nc, ni = tonumber(ARGV[4]), tonumber(ARGV[5])
  local memo = tonumber(ARGV[9]) > 0 and KEYS[tonumber(ARGV[9])] or nil
  if ARGV[6] ~= '' and redis.call('GET', KEYS[tonumber(ARGV[7])]) ~= ARGV[6] then
    return fail(E_LOCKLOST, 1)
  end
  local lease = tonumber(ARGV[8])
  local now = now_ms()
  if lease > 0 and now > lease then
    return fail(E_LEASE, 1)
  end
  local mode, exists = ARGV[1], redis.call('EXISTS', hash) == 1
  if mode == 'insert' and exists then
    return fail(E_EXISTS, 1)
  elseif mode == 'update' and not exists then
    return fail(E_NOTFOUND, 1)
  elseif mode == 'get_or_insert' and exists then
    -- Read what is there, containers as their kinds (listed in the container section) say.
    local item, pos = { redis.call('HGETALL', hash) }, 11 + 2 * tonumber(ARGV[10])
    for k = 3, 2 + nc do
      local kind, count = ARGV[pos], tonumber(ARGV[pos + 1])
      item[k - 1] = read_container(kind, KEYS[k])
      pos = pos + 2 + count * ((kind == C_MAP or kind == C_ZSET) and 2 or 1)
    end
    return { -1, item }
  end
  if memo then
    -- An earlier, expired instance of this pk leaves its entries first; then a few others.
    if memo_read(memo, pk) then
      forget(KEYS[2], memo, pk)
    end
    purge(KEYS[2], memo, now, 16)
  end

  local FIRST = 11
  local pairs_count = tonumber(ARGV[10])
  local fields = {}
  for i = FIRST, FIRST - 1 + 2 * pairs_count, 2 do
    fields[ARGV[i]] = ARGV[i + 1]
  end

  -- Skip the container section to reach the index section.
  local pos = FIRST + 2 * pairs_count
  for _ = 1, nc do
    local width = (ARGV[pos] == C_MAP or ARGV[pos] == C_ZSET) and 2 or 1
    pos = pos + 2 + tonumber(ARGV[pos + 1]) * width
  end
  local containers_pos = FIRST + 2 * pairs_count

  -- Indexes: the old and new stored text of each indexed field; unique values are checked first.
  local indexes, elsewhere = {}, {}
  local stored_now = hash_reader(hash)
  local written = function(path)
    return fields[path]
  end
  for i = 1, ni do
    local at = tonumber(ARGV[pos + 3])
    local ix = { kind = ARGV[pos], path = ARGV[pos + 1], part = ARGV[pos + 2] }
    ix.key = at > 0 and KEYS[at] or nil
    pos = pos + 4
    ix.old = entry_text(ix, stored_now)
    ix.new = entry_text(ix, written)
    if not ix.key then
      elsewhere[#elsewhere + 1] = ix.old or false
    else
      if ix.kind == IX_UNIQUE and ix.new then
        local holder = live_holder(ix.key, ix.new, memo)
        if holder and holder ~= pk then
          return fail(E_UNIQUE, i, #holder .. ':' .. holder .. ix.new)
        end
      end
      indexes[#indexes + 1] = ix
    end
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

  redis.call('DEL', hash)
  for k = 3, 2 + nc do
    redis.call('DEL', KEYS[k])
  end

  local ttl = tonumber(ARGV[3])
  call_chunked('HSET', hash, FIRST, pairs_count, 2)
  if ttl > 0 then
    redis.call('PEXPIRE', hash, ttl)
  end

  local commands = { [C_LIST] = 'RPUSH', [C_SET] = 'SADD', [C_MAP] = 'HSET', [C_ZSET] = 'ZADD' }
  pos = containers_pos
  for k = 3, 2 + nc do
    local kind = ARGV[pos]
    local count = tonumber(ARGV[pos + 1])
    local width = (kind == C_MAP or kind == C_ZSET) and 2 or 1
    if count > 0 then
      call_chunked(commands[kind], KEYS[k], pos + 2, count, width)
      if ttl > 0 then
        redis.call('PEXPIRE', KEYS[k], ttl)
      end
    end
    pos = pos + 2 + count * width
  end

  local remembered = {}
  for _, ix in ipairs(indexes) do
    index_move(ix.kind, ix.key, pk, ix.old, ix.new)
    remembered[ix.key] = ix.new and (ix.kind .. ix.new) or nil
  end
  if memo then
    memo_write(memo, pk, hash, remembered, ttl > 0)
  end

  if ttl > 0 then
    if not memo then
      redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
    end
    redis.call('ZADD', KEYS[2], now + ttl, pk)
  else
    redis.call('ZADD', KEYS[2], '+inf', pk)
  end
  return elsewhere
end

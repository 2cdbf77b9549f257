-- Deletes an instance, its containers, its locks, its registry entry and its index entries
-- atomically. (The protocol prelude and index.lua come first; the script ends by calling
-- delete_one once, or once per instance: many.lua.)
-- KEYS[1] instance hash, KEYS[2] registry of its bucket, KEYS[3] its fence hash (the names of
-- the locks ever taken on it; runtime/src/keys.rs), KEYS[4 .. 3+nc] containers, then the index
-- keys kept in this slot.
-- ARGV[1] pk, ARGV[2] nc, ARGV[3] ni, ARGV[4] the position in KEYS of the bucket's memo of
-- expiring instances (index.lua; 0 for none), then per index: kind, field path, partition field
-- path ('' unless partitioned), and the position of its key in KEYS, or 0 for a unique index
-- kept in another slot by claims.
-- Returns { 1 if the instance existed else 0, then the old stored text of each index kept
-- elsewhere (false when unset), in order }.
local function delete_one(KEYS, ARGV)
  local hash, pk = KEYS[1], ARGV[1]
  local existed = redis.call('EXISTS', hash)
  local nc, ni = tonumber(ARGV[2]), tonumber(ARGV[3])
  local out = { existed }
  local memo = tonumber(ARGV[4]) > 0 and KEYS[tonumber(ARGV[4])] or nil
  if memo then
    redis.call('HDEL', memo, pk)
  end
  local pos = 5
  local stored_now = hash_reader(hash)
  for _ = 1, ni do
    local ix = { kind = ARGV[pos], path = ARGV[pos + 1], part = ARGV[pos + 2] }
    local at = tonumber(ARGV[pos + 3])
    local old = entry_text(ix, stored_now)
    if at > 0 then
      index_move(ix.kind, KEYS[at], pk, old, nil)
    else
      out[#out + 1] = old or false
    end
    pos = pos + 4
  end
  -- Lock keys are named as Keyspace::lock names them, in the instance's slot.
  for _, name in ipairs(redis.call('HKEYS', KEYS[3])) do
    redis.call('DEL', hash .. ':lock:' .. name)
  end
  for k = 1, 3 + nc do
    if k ~= 2 then
      redis.call('DEL', KEYS[k])
    end
  end
  redis.call('ZREM', KEYS[2], pk)
  return out
end

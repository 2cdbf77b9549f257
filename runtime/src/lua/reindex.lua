-- Rebuilds index entries from the instances of one bucket. (The protocol prelude and index.lua
-- come first.) Each call handles one batch and is atomic, so writers running at the same time
-- stay consistent with it. Every key is declared: on a cluster a call stays in one slot.
-- KEYS: the index keys (n of them), then one instance hash per batch item.
-- ARGV[1] mode, ARGV[2] n, then per index: kind, path, old path ('' unless the field was renamed:
--   instances written before the rename hold the value there), partition field path ('' unless
--   partitioned); then the batch.
-- mode 'set': the batch is pks (KEYS[n + i] is the hash of the i-th). Every index entry of each
--   live instance is written, except a unique value the index gives to another pk: that is
--   returned for the client to check. Returns { written, held... } where held is
--   'index_no<TAB>value<TAB>holder<TAB>pk'.
-- mode 'claim' (one unique index, n = 1; KEYS[2] the holder's hash): the batch is value,
--   holder, pk. The value is given to pk when the index still gives it to holder and holder's
--   instance no longer has it: returns 1; -1 when holder still has it (a conflict); 0 when the
--   index changed meanwhile.
-- mode 'sweep' (ARGV[first] = the index number i): the batch is entries of index i (sorted:
--   pks; unique: value, record pairs; lookup and partitioned: members), KEYS[n + j] the hash of
--   the j-th entry's
--   pk (the index key itself for an entry naming none); every entry that no longer matches its
--   instance is removed. Returns the number removed.
local mode, n = ARGV[1], tonumber(ARGV[2])
local indexes = {}
for i = 1, n do
  local at = 4 * i - 1
  indexes[i] = { kind = ARGV[at], path = ARGV[at + 1], old = ARGV[at + 2], part = ARGV[at + 3],
    key = KEYS[i] }
end
local first = 3 + 4 * n

-- The text index `ix` keeps for an instance (entry_text in index.lua), reading its field, or the
-- field's old name for an instance written before a rename.
local function stored(hash, ix)
  return entry_text(ix, function(path)
    local value = redis.call('HGET', hash, path)
    if not value and path == ix.path and ix.old ~= '' then
      value = redis.call('HGET', hash, ix.old)
    end
    return value or nil
  end)
end

if mode == 'set' then
  local written, out = 0, {}
  for a = first, #ARGV do
    local pk, hash = ARGV[a], KEYS[n + 1 + a - first]
    if redis.call('EXISTS', hash) == 1 then
      for i, ix in ipairs(indexes) do
        local text = stored(hash, ix) or nil
        if ix.kind == IX_UNIQUE and text then
          local holder = unique_holder(ix.key, text)
          if holder and holder ~= pk then
            out[#out + 1] = i .. '\t' .. text .. '\t' .. holder .. '\t' .. pk
            text = nil
          end
        end
        if text or (ix.kind ~= IX_UNIQUE and ix.kind ~= IX_LOOKUP) then
          index_move(ix.kind, ix.key, pk, nil, text)
          written = written + 1
        end
      end
    end
  end
  table.insert(out, 1, written)
  return out
end

if mode == 'claim' then
  local value, holder, pk = ARGV[first], ARGV[first + 1], ARGV[first + 2]
  if unique_holder(KEYS[1], value) ~= holder then
    return 0
  end
  if stored(KEYS[2], indexes[1]) == value then
    return -1
  end
  redis.call('HSET', KEYS[1], value, '=:' .. pk)
  return 1
end

-- sweep
local i = tonumber(ARGV[first])
local ix = indexes[i]
local removed = 0
if ix.kind == IX_UNIQUE then
  for a = first + 1, #ARGV, 2 do
    local value, record = ARGV[a], ARGV[a + 1]
    local hash = KEYS[n + 1 + (a - first - 1) / 2]
    local holder = claim_parts(record)
    if redis.call('HGET', ix.key, value) == record
      and (not holder or stored(hash, ix) ~= value) then
      redis.call('HDEL', ix.key, value)
      removed = removed + 1
    end
  end
elseif partitioned(ix.kind) then
  for a = first + 1, #ARGV do
    local member, hash = ARGV[a], KEYS[n + a - first]
    local len, rest = string.match(member, '^(%d+):(.*)$')
    local text = stored(hash, ix)
    if not len or not text or text .. string.sub(rest, tonumber(len) + 9) ~= member then
      removed = removed + redis.call('ZREM', ix.key, member)
    end
  end
elseif ix.kind == IX_LOOKUP then
  for a = first + 1, #ARGV do
    local member, hash = ARGV[a], KEYS[n + a - first]
    local len, rest = string.match(member, '^(%d+):(.*)$')
    local ok = false
    if len then
      ok = stored(hash, ix) == string.sub(rest, 1, tonumber(len))
    end
    if not ok then
      removed = removed + redis.call('ZREM', ix.key, member)
    end
  end
else
  for a = first + 1, #ARGV do
    local pk, hash = ARGV[a], KEYS[n + a - first]
    if not stored(hash, ix) then
      removed = removed + redis.call('ZREM', ix.key, pk)
    end
  end
end
return removed

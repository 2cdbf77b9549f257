-- Rebuilds index entries from the instances. (index.lua is prepended.) Each call handles one batch
-- and is atomic, so writers running at the same time stay consistent with it.
-- KEYS: the model's index keys. ARGV[1] mode, ARGV[2] instance key prefix (`[ns:]<prefix>:{`),
-- ARGV[3] n indexes, then per index: kind, path; then the batch.
-- mode 'set': the batch is pks; every index entry of each live instance is written. Returns
--   { written, conflicts... } where a conflict is 'index_no<TAB>value<TAB>holder<TAB>pk': a unique
--   value already held by another live instance with that value (the holder keeps it).
-- mode 'sweep' (ARGV[4] = the index number i): the batch is entries of index i (sorted: pks;
--   unique: value, pk pairs; lookup: members); every entry that no longer matches its instance is
--   removed. Returns the number removed.
local mode, instance_prefix, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local indexes = {}
for i = 1, n do
  indexes[i] = { kind = ARGV[2 + 2 * i], path = ARGV[3 + 2 * i], key = KEYS[i] }
end
local first = 4 + 2 * n
local function hash_of(pk)
  return instance_prefix .. escape_pk(pk) .. '}'
end

if mode == 'set' then
  local written, out = 0, {}
  for a = first, #ARGV do
    local pk = ARGV[a]
    local hash = hash_of(pk)
    if redis.call('EXISTS', hash) == 1 then
      for i, ix in ipairs(indexes) do
        local text = redis.call('HGET', hash, ix.path) or nil
        if ix.kind == IX_UNIQUE and text then
          local holder = unique_holder(ix.key, text)
          if holder and holder ~= pk
            and redis.call('HGET', hash_of(holder), ix.path) == text then
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

-- sweep
local i = tonumber(ARGV[first])
local ix = indexes[i]
local removed = 0
if ix.kind == IX_UNIQUE then
  for a = first + 1, #ARGV, 2 do
    local value, pk = ARGV[a], ARGV[a + 1]
    if redis.call('HGET', ix.key, value) == pk and redis.call('HGET', hash_of(pk), ix.path) ~= value then
      redis.call('HDEL', ix.key, value)
      removed = removed + 1
    end
  end
elseif ix.kind == IX_LOOKUP then
  for a = first + 1, #ARGV do
    local member = ARGV[a]
    local len, rest = string.match(member, '^(%d+):(.*)$')
    local ok = false
    if len then
      local value, pk = string.sub(rest, 1, tonumber(len)), string.sub(rest, tonumber(len) + 1)
      ok = redis.call('HGET', hash_of(pk), ix.path) == value
    end
    if not ok then
      removed = removed + redis.call('ZREM', ix.key, member)
    end
  end
else
  for a = first + 1, #ARGV do
    local pk = ARGV[a]
    local text = redis.call('HGET', hash_of(pk), ix.path)
    if not text then
      removed = removed + redis.call('ZREM', ix.key, pk)
    end
  end
end
return removed

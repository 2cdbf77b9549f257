-- Index maintenance, shared by every script that writes (it is prepended to them). An index entry
-- is a pure function of the field's stored text, so every write path keeps indexes in step the
-- same way: read the field before, write, read it after, move the entry.
-- Kinds (codes from the prelude): IX_INT, IX_FLOAT, IX_DATETIME sorted; IX_UNIQUE; IX_LOOKUP;
-- IX_PART followed by a sorted kind ('pi', ...) for a sorted index partitioned by another field.

-- Microseconds since the epoch of a stored datetime (RFC 3339 in UTC, as the codec writes it),
-- rounded once to a double exactly as Rust's `timestamp_micros() as f64` (runtime/src/index.rs):
-- exact from 1685 to 2255 (|micros| < 2^53), and never out of order beyond. The exact integer
-- is split into two parts that doubles hold exactly, so their sum is the only rounding:
-- seconds = high + low with high a multiple of 2^20, so high * 1e6 has at most 43 significant
-- bits, and low * 1e6 + micros < 2^41.
local function datetime_score(text)
  local seconds, nanos = datetime_parts(text)
  if not seconds then
    return nil
  end
  local micros = math.floor(nanos / 1000)
  local high = math.floor(seconds / 1048576) * 1048576
  return high * 1e6 + ((seconds - high) * 1e6 + micros)
end

local function index_score(kind, text)
  if kind == IX_DATETIME then
    return datetime_score(text)
  end
  return tonumber(text)
end

-- Lookup members: the value, length-prefixed so that no value is a prefix of another, then the
-- pk. A pk is UTF-8, which never holds the byte 0xff, so [P, P\255) spans exactly the value P.
local function lookup_prefix(text)
  return #text .. ':' .. text
end

-- Partitioned sorted indexes: one sorted set per bucket whose members all score 0 and sort
-- bytewise as
--   <partition text, length-prefixed as above> <the score in 8 bytes that sort as the double
--   does> <pk>
-- so a partition is one range of members in score order (ties by pk bytes, as a sorted index
-- orders them): its top k, a rank in it and a count are O(log N + k) range commands
-- (query.lua). The text such an index keeps for an instance (moves, memo) is that member without
-- the pk. runtime/src/index.rs encodes scores the same way (score_bytes).

-- The 8 bytes of a score: big-endian IEEE 754 with the sign bit flipped for a positive score and
-- every bit flipped for a negative one (-0 as 0, as a sorted set orders them).
local function score_bytes(score)
  if score == 0 then
    score = 0
  end
  local raw = struct.pack('>d', score)
  local first = string.byte(raw, 1)
  if first < 128 then
    return string.char(first + 128) .. string.sub(raw, 2)
  end
  local out = {}
  for i = 1, 8 do
    out[i] = string.char(255 - string.byte(raw, i))
  end
  return table.concat(out)
end

-- The score of 8 bytes written by score_bytes.
local function bytes_score(bytes)
  local first = string.byte(bytes, 1)
  if first >= 128 then
    return (struct.unpack('>d', string.char(first - 128) .. string.sub(bytes, 2, 8)))
  end
  local out = {}
  for i = 1, 8 do
    out[i] = string.char(255 - string.byte(bytes, i))
  end
  return (struct.unpack('>d', table.concat(out)))
end

local function partitioned(kind)
  return string.sub(kind, 1, 1) == IX_PART
end

-- The text index `ix` ({ kind, path, part }) keeps for an instance whose stored field texts
-- `read(path)` gives (nil for none): the field's own text, or for a partitioned index the
-- member prefix above (none unless both fields are set).
local function entry_text(ix, read)
  local text = read(ix.path)
  if not text or not partitioned(ix.kind) then
    return text
  end
  local part = read(ix.part)
  local score = part and index_score(string.sub(ix.kind, 2), text)
  return score and (lookup_prefix(part) .. score_bytes(score)) or nil
end

-- A reader of an instance hash's field texts, for entry_text.
local function hash_reader(hash)
  return function(path)
    return redis.call('HGET', hash, path) or nil
  end
end

-- A unique index maps each value to a claim record (runtime/src/claims.rs):
--   '=<token>:<pk>'             committed (the token is empty when written by an instance's script)
--   '?<deadline ms>:<token>:<pk>' pending: reserved by a writer on a cluster, until the deadline
-- The holder's pk, the state ('=' or '?'), the token and the deadline of a record (nil for none).
local function claim_parts(record)
  if not record then
    return nil
  end
  if string.sub(record, 1, 1) == '?' then
    local deadline, token, pk = string.match(record, '^%?(%d+):([^:]*):(.*)$')
    return pk, '?', token, tonumber(deadline)
  end
  local token, pk = string.match(record, '^=([^:]*):(.*)$')
  return pk, '=', token
end

-- The pk holding `text` in a unique index, or nil.
local function unique_holder(key, text)
  return (claim_parts(redis.call('HGET', key, text) or nil))
end

-- Moves the entry of `pk` in index `key` from the stored text `old` to `new` (either may be nil).
local function index_move(kind, key, pk, old, new)
  if old == new then
    return
  end
  if kind == IX_UNIQUE then
    if old and unique_holder(key, old) == pk then
      redis.call('HDEL', key, old)
    end
    if new then
      redis.call('HSET', key, new, '=:' .. pk)
    end
  elseif kind == IX_LOOKUP then
    if old then
      redis.call('ZREM', key, lookup_prefix(old) .. pk)
    end
    if new then
      redis.call('ZADD', key, 0, lookup_prefix(new) .. pk)
    end
  elseif partitioned(kind) then
    if old then
      redis.call('ZREM', key, old .. pk)
    end
    if new then
      redis.call('ZADD', key, 0, new .. pk)
    end
  else
    local score = new and index_score(kind, new)
    if score then
      redis.call('ZADD', key, score, pk)
    else
      redis.call('ZREM', key, pk)
    end
  end
end

-- Expiring instances. When Redis expires an instance's keys, its index entries stay behind, so
-- the scripts remember them: the bucket's memo (HASH pk -> msgpack { instance hash key,
-- { index key -> kind code .. stored text } }) holds the index entries of every instance that
-- has an expiry, written in the same script as the entries themselves. An instance is expired
-- when its registry score (expiry, ms) has passed and its hash is gone; `forget` then removes
-- what its memo lists. Queries purge before answering, writers purge a few and free the unique
-- values of expired holders, and reindex purges the rest (runtime/src/stored.rs, index.rs).

local function memo_read(memo, pk)
  local raw = redis.call('HGET', memo, pk)
  return raw and cmsgpack.unpack(raw) or nil
end

-- Records the index entries `entries` (index key -> kind .. text) of `pk`, or drops its memo
-- entry when the instance has no expiry (`expires` false).
local function memo_write(memo, pk, hash, entries, expires)
  if expires then
    redis.call('HSET', memo, pk, cmsgpack.pack({ hash, entries }))
  else
    redis.call('HDEL', memo, pk)
  end
end

-- Records that `pk` now has `text` (nil: nothing) in index `key` of `kind`.
local function memo_note(memo, pk, hash, key, kind, text)
  local entry = memo_read(memo, pk) or { hash, {} }
  entry[2][key] = text and (kind .. text) or nil
  redis.call('HSET', memo, pk, cmsgpack.pack(entry))
end

-- Forgets `pk` if it has expired: removes the index entries its memo lists (where they still
-- name it), its memo entry and (when `registry` is given) its registry entry. Returns false,
-- changing nothing, while its hash still exists.
local function forget(registry, memo, pk)
  local entry = memo and memo_read(memo, pk)
  if entry then
    if redis.call('EXISTS', entry[1]) == 1 then
      return false
    end
    for key, coded in pairs(entry[2]) do
      -- The kind is one letter, or two for a partitioned index.
      local width = partitioned(coded) and 2 or 1
      index_move(string.sub(coded, 1, width), key, pk, string.sub(coded, width + 1), nil)
    end
    redis.call('HDEL', memo, pk)
  end
  if registry then
    redis.call('ZREM', registry, pk)
  end
  return true
end

-- Forgets up to `limit` instances whose expiry is before `now` (ms) (`memo` nil: a model with
-- no index, whose registry entries alone are left). Returns true when no expired one is left.
local function purge(registry, memo, now, limit)
  local expired = redis.call('ZRANGEBYSCORE', registry, '-inf', '(' .. now, 'LIMIT', 0, limit)
  local left = #expired >= limit
  for _, pk in ipairs(expired) do
    if not forget(registry, memo, pk) then
      left = true
    end
  end
  return not left
end

-- The pk holding `text` in unique index `key`, unless it is an expired instance, which is
-- forgotten then (freeing the value in the same script). `memo` nil: the model never expires.
local function live_holder(key, text, memo)
  local holder = unique_holder(key, text)
  if holder and memo then
    local entry = memo_read(memo, holder)
    if entry and redis.call('EXISTS', entry[1]) == 0 then
      forget(nil, memo, holder)
      return nil
    end
  end
  return holder
end

-- Sets the expiry of an instance to `ms` milliseconds from now, or removes it (`ms` nil): every
-- key in `keys` (its hash first), its registry entry and, with a memo, its memo entry, which
-- then lists the entries of `indexes` ({ kind, path, old path or '', part, key } each) it has.
local function set_expiry(keys, registry, memo, pk, ms, indexes)
  local hash = keys[1]
  for _, key in ipairs(keys) do
    if ms then
      redis.call('PEXPIRE', key, ms)
    else
      redis.call('PERSIST', key)
    end
  end
  if ms then
    redis.call('ZADD', registry, now_ms() + ms, pk)
  else
    redis.call('ZADD', registry, '+inf', pk)
  end
  if memo then
    local entries = {}
    for _, ix in ipairs(indexes) do
      local text = entry_text(ix, function(path)
        local found = redis.call('HGET', hash, path)
        if not found and path == ix.path and ix.old ~= '' then
          found = redis.call('HGET', hash, ix.old)
        end
        return found or nil
      end)
      if text then
        entries[ix.key] = ix.kind .. text
      end
    end
    memo_write(memo, pk, hash, entries, ms ~= nil)
  end
end

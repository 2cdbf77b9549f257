-- The functions of the field operations script's general layout (see ops.lua): the exact
-- arithmetic of its operations, the precheck that simulates a batch before anything is
-- written, and each op's execution. Definitions only: a library defines them once (see
-- runtime/src/script.rs); the per-call state below is reset by ops.lua on every call.

local KEY_TYPE, READS = op_tables()

-- The further keys of an op that has none: shared by every such op, and never written.
local NO_KEYS = {}

-- A stored datetime plus a duration (`secs` whole seconds, `nanos` in [0, 1e9)), as stored
-- text; or nil, the error code and why.
local function datetime_plus(text, secs, nanos)
  local seconds, ns = datetime_parts(text)
  if not seconds then
    return nil, E_TYPE, 'the stored value is not a datetime: ' .. string.sub(text, 1, 40)
  end
  seconds, ns = seconds + tonumber(secs), ns + tonumber(nanos)
  if ns >= 1000000000 then
    seconds, ns = seconds + 1, ns - 1000000000
  end
  local out = datetime_text(seconds, ns)
  if not out then
    return nil, E_OVERFLOW, text .. ' + ' .. secs .. ' s is outside the years 0 to 9999'
  end
  return out
end

-- Exact 64-bit integers as (hi, lo) with value = hi * 1e9 + lo and both parts of one sign:
-- every part stays far below 2^53, so doubles hold them exactly.
local B = 1000000000
local function parse_int(s)
  if s ~= '0' and not string.match(s, '^%-?[1-9]%d*$') then
    return nil
  end
  local neg = string.sub(s, 1, 1) == '-'
  local digits = neg and string.sub(s, 2) or s
  if #digits > 19 or (#digits == 19 and digits > (neg and '9223372036854775808' or '9223372036854775807')) then
    return nil
  end
  local hi = tonumber(string.sub(digits, 1, -10)) or 0
  local lo = tonumber(string.sub(digits, -9))
  if neg then
    return { -hi, -lo }
  end
  return { hi, lo }
end

local function add_int(a, b)
  local hi, lo = a[1] + b[1], a[2] + b[2]
  if lo >= B then
    hi, lo = hi + 1, lo - B
  elseif lo <= -B then
    hi, lo = hi - 1, lo + B
  end
  if hi > 0 and lo < 0 then
    hi, lo = hi - 1, lo + B
  elseif hi < 0 and lo > 0 then
    hi, lo = hi + 1, lo - B
  end
  if hi > 9223372036 or (hi == 9223372036 and lo > 854775807)
    or hi < -9223372036 or (hi == -9223372036 and lo < -854775808) then
    return nil
  end
  return { hi, lo }
end

local function int_text(v)
  if v[1] == 0 then
    return string.format('%d', v[2])
  end
  return string.format('%d', v[1]) .. string.format('%09d', math.abs(v[2]))
end

-- int_sum's general case: exact in (hi, lo) parts.
local function int_sum_exact(text, delta)
  local current = parse_int(text)
  if not current then
    return nil, E_TYPE, 'the stored value is not a 64-bit integer: ' .. string.sub(text, 1, 40)
  end
  local sum = add_int(current, parse_int(delta))
  if not sum then
    return nil, E_OVERFLOW, string.sub(text, 1, 40) .. ' + ' .. delta .. ' does not fit in a 64-bit integer'
  end
  return int_text(sum)
end

-- A stored integer plus a delta (text): nil, the error code and why when the stored value is not
-- a 64-bit integer or the sum does not fit in one. The stored value is its text, or a Lua number
-- that the precheck's simulation holds for an exact sum below 2^53 in magnitude: the sum is
-- such a number when it is one (a batch that increments a field many times parses and formats
-- it once), else text. Operands of at most 15 characters add exactly as doubles, so the common
-- case skips the (hi, lo) arithmetic; the stored text must still be canonical, as HINCRBY
-- requires.
local function int_sum(current, delta)
  if type(current) == 'number' then
    if #delta <= 15 then
      local sum = current + tonumber(delta)
      if sum < 9007199254740992 and sum > -9007199254740992 then
        return sum
      end
    end
    current = string.format('%d', current)
  end
  if #current <= 15 and #delta <= 15 and (current == '0' or string.find(current, '^%-?[1-9]%d*$')) then
    return tonumber(current) + tonumber(delta)
  end
  return int_sum_exact(current, delta)
end

local function finite(x)
  return x == x and x ~= math.huge and x ~= -math.huge
end

-- A float's stored text: the shortest of 15, 16 or 17 significant digits that parses back to
-- the same double (17 always does), so every reader gets exactly the f64 the script computed.
local function float_text(x)
  for digits = 15, 16 do
    local text = string.format('%.' .. digits .. 'g', x)
    if tonumber(text) == x then
      return text
    end
  end
  return string.format('%.17g', x)
end

-- The f64 sum of a stored float and a delta (Lua numbers are IEEE doubles, so this is the sum
-- Rust computes; Redis's HINCRBYFLOAT would add in long double and round to 17 decimals).
-- Returns its text, or nil and the reason (E_TYPE or E_OVERFLOW) with a description.
local function float_sum(text, delta)
  local current = tonumber(text)
  if not current or not finite(current) then
    return nil, E_TYPE, 'the stored value is not a finite float: ' .. string.sub(text, 1, 40)
  end
  local sum = current + tonumber(delta)
  if not finite(sum) then
    return nil, E_OVERFLOW, string.sub(text, 1, 40) .. ' + ' .. delta .. ' is not a finite float'
  end
  return float_text(sum)
end

-- Compares two stored texts as `kind` (i int, f float, t datetime): -1, 0 or 1, or nil when
-- either does not parse.
local function compare(kind, a, b)
  if kind == 'i' then
    local x, y = parse_int(a), parse_int(b)
    if not x or not y then
      return nil
    end
    if x[1] ~= y[1] then
      return x[1] < y[1] and -1 or 1
    end
    return x[2] < y[2] and -1 or (x[2] > y[2] and 1 or 0)
  elseif kind == 'f' then
    local x, y = tonumber(a), tonumber(b)
    if not x or not y then
      return nil
    end
    return x < y and -1 or (x > y and 1 or 0)
  elseif kind == 't' then
    local xs, xn = datetime_parts(a)
    local ys, yn = datetime_parts(b)
    if not xs or not ys then
      return nil
    end
    if xs ~= ys then
      return xs < ys and -1 or 1
    end
    return xn < yn and -1 or (xn > yn and 1 or 0)
  end
  return nil
end

-- Whether `text` (nil: unset) satisfies `cmp value` compared as `kind` (s: stored text, eq/ne
-- only); nil when the stored value does not parse as `kind`.
local SIGNS = { eq = { 0 }, ne = { -1, 1 }, lt = { -1 }, le = { -1, 0 }, gt = { 1 }, ge = { 0, 1 } }
local function holds(cmp, kind, text, value)
  if cmp == 'set' or cmp == 'unset' then
    return (text ~= nil) == (cmp == 'set')
  elseif text == nil then
    return false
  elseif kind == 's' then
    return (text == value) == (cmp == 'eq')
  end
  local c = compare(kind, text, value)
  if c == nil then
    return nil
  end
  for _, sign in ipairs(SIGNS[cmp]) do
    if c == sign then
      return true
    end
  end
  return false
end

-- What imax/imin/fmax/fmin keep: `value` or the current text (nil: unset); nil and why when
-- the current one does not parse.
local function extreme(code, current, value)
  if current == nil then
    return value
  end
  local kind = (code == OP_IMAX or code == OP_IMIN) and 'i' or 'f'
  local c = compare(kind, value, current)
  if c == nil then
    return nil, 'the stored value is not a number: ' .. string.sub(current, 1, 40)
  end
  local larger = code == OP_IMAX or code == OP_FMAX
  if (larger and c > 0) or (not larger and c < 0) then
    return value
  end
  return current
end

-- The text `-` (unset) or `=<text>` stands for in a compare-and-set.
local function cas_text(arg)
  return arg ~= '-' and string.sub(arg, 2) or nil
end

-- Hash fields as the ops before the current one left them: sim[key][field] is the stored text,
-- false once deleted; cleared[key] once the whole key is deleted.
-- An incremented integer may be held as a Lua number (see int_sum): simulated() gives it as
-- such, stored() always as text.
local sim, cleared, zsim = {}, {}, {}
local function simulated(key, field)
  local fields = sim[key]
  if fields and fields[field] ~= nil then
    return fields[field] or nil
  end
  if cleared[key] then
    return nil
  end
  return redis.call('HGET', key, field) or nil
end
local function stored(key, field)
  local value = simulated(key, field)
  if type(value) == 'number' then
    return string.format('%d', value)
  end
  return value
end
local function remember(key, field, value)
  sim[key] = sim[key] or {}
  sim[key][field] = value
end

-- Unique values as the ops before the current one left them: owners[key][text] is a pk, or
-- false once freed.
local owners = {}
local function precheck_unique(i, ix, old_text, new_text)
  local taken = owners[ix.key] or {}
  owners[ix.key] = taken
  if new_text and new_text ~= old_text then
    local holder = taken[new_text]
    if holder == nil then
      holder = live_holder(ix.key, new_text, ix.memo)
    end
    if holder and holder ~= ix.pk then
      return fail(E_UNIQUE, i, #holder .. ':' .. holder .. new_text)
    end
  end
  if old_text and old_text ~= new_text then
    taken[old_text] = false
  end
  if new_text then
    taken[new_text] = ix.pk
  end
  return nil
end

local types = {}
local function precheck(i, op)
  local want = KEY_TYPE[op.code]
  if want then
    local have = types[op.key]
    if not have then
      have = redis.call('TYPE', op.key).ok
      types[op.key] = have
    end
    if have ~= 'none' and have ~= want then
      return fail(E_TYPE, i, 'the key holds a ' .. have .. ', not a ' .. want)
    end
  end
  local a = op.first
  -- The stored text of an indexed field before this op, and after it (set below).
  local old_text, new_text
  if op.ix then
    old_text = stored(op.key, ARGV[a])
  end
  if op.code == OP_INCR or op.code == OP_INCRF then
    local field, delta, default = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    if op.code == OP_INCR then
      local current = simulated(op.key, field) or (default ~= '' and default) or '0'
      local sum, code, why = int_sum(current, delta)
      if not sum then
        return fail(code, i, why)
      end
      if op.ix then
        new_text = type(sum) == 'number' and string.format('%d', sum) or sum
      end
      remember(op.key, field, sum)
    else
      local text = stored(op.key, field) or (default ~= '' and default) or '0'

      local sum, code, why = float_sum(text, delta)
      if not sum then
        return fail(code, i, why)
      end
      remember(op.key, field, sum)
    end
  elseif op.code == 'HSET' then
    for j = a, a + op.argc - 1, 2 do
      remember(op.key, ARGV[j], ARGV[j + 1])
    end
    new_text = ARGV[a + 1]
  elseif op.code == 'HSETNX' then
    if not stored(op.key, ARGV[a]) then
      remember(op.key, ARGV[a], ARGV[a + 1])
    end
  elseif op.code == OP_TAKE then
    remember(op.key, ARGV[a], false)
  elseif op.code == OP_ZINCR then
    -- Scores as the zincr ops before this one left them.
    zsim[op.key] = zsim[op.key] or {}
    local current = zsim[op.key][ARGV[a]] or redis.call('ZSCORE', op.key, ARGV[a]) or '0'
    local sum, code, why = float_sum(current, ARGV[a + 1])
    if not sum then
      return fail(code, i, why)
    end
    zsim[op.key][ARGV[a]] = sum
  elseif op.code == OP_APPEND then
    new_text = (stored(op.key, ARGV[a]) or '') .. ARGV[a + 1]
    remember(op.key, ARGV[a], new_text)
  elseif op.code == OP_COND then
    local default = ARGV[a + 4] ~= '' and ARGV[a + 4] or nil
    local text = stored(op.key, ARGV[a]) or default
    local ok = holds(ARGV[a + 1], ARGV[a + 2], text, ARGV[a + 3])
    if ok == nil then
      return fail(E_TYPE, i, 'the stored value does not compare: ' .. string.sub(text, 1, 40))
    elseif not ok then
      return fail(E_CONDITION, i, text and ('=' .. string.sub(text, 1, 80)) or '-')
    end
  elseif op.code == OP_IMAX or op.code == OP_IMIN or op.code == OP_FMAX or op.code == OP_FMIN then
    local default = ARGV[a + 2] ~= '' and ARGV[a + 2] or nil
    local keep, why = extreme(op.code, stored(op.key, ARGV[a]) or default, ARGV[a + 1])
    if not keep then
      return fail(E_TYPE, i, why)
    end
    new_text = keep
    remember(op.key, ARGV[a], keep)
  elseif op.code == OP_CAS then
    local current = stored(op.key, ARGV[a])
    if current == cas_text(ARGV[a + 1]) then
      new_text = cas_text(ARGV[a + 2])
      remember(op.key, ARGV[a], new_text or false)
    else
      new_text = current
    end
  elseif op.code == OP_DTADD then
    local text = stored(op.key, ARGV[a]) or (ARGV[a + 3] ~= '' and ARGV[a + 3]) or nil
    if not text then
      return fail(E_TYPE, i, 'field is missing')
    end
    local code, why
    new_text, code, why = datetime_plus(text, ARGV[a + 1], ARGV[a + 2])
    if not new_text then
      return fail(code, i, why)
    end
    remember(op.key, ARGV[a], new_text)
  elseif op.code == 'HDEL' then
    remember(op.key, ARGV[a], false)
  elseif op.code == 'DEL' then
    sim[op.key] = nil
    cleared[op.key] = true
  elseif op.code == OP_EXPECT then
    local want = op.argc > 1 and ARGV[a + 1] or nil
    if stored(op.key, ARGV[a]) ~= want then
      return fail(E_CHANGED, i)
    end
  elseif op.code == OP_MV then
    local new, old = ARGV[a], ARGV[a + 1]
    local value = stored(op.key, old)
    if not stored(op.key, new) and value then
      remember(op.key, new, value)
      remember(op.key, old, false)
    end
  end
  if op.ix and op.ix.kind == IX_UNIQUE then
    local err = precheck_unique(i, op.ix, old_text, new_text)
    if err then
      return err
    end
  end
  return nil
end


-- Only a batch of several ops can be left half-applied, so only those are prechecked in full;
-- a float increment is always checked, since its sum must stay a finite double.
local function needs_precheck(op, count)
  return count > 1 or op.code == OP_INCRF or op.code == OP_EXPECT or op.code == OP_DTADD
    or op.code == OP_ZINCR
    or op.code == OP_COND or op.code == OP_IMAX or op.code == OP_IMIN or op.code == OP_FMAX
    or op.code == OP_FMIN or op.code == OP_CAS
    or (op.ix and op.ix.kind == IX_UNIQUE)
end

-- Lua's unpack is limited to a few thousand values: big variadic writes go in chunks.
local CHUNK = 1000
local SUMMED = { SADD = true, HSET = true }
local function call(code, key, first, argc)
  if argc <= CHUNK then
    return redis.pcall(code, key, unpack(ARGV, first, first + argc - 1))
  end
  local total, reply = 0, nil
  for from = first, first + argc - 1, CHUNK do
    reply = redis.pcall(code, key, unpack(ARGV, from, math.min(from + CHUNK, first + argc) - 1))
    if type(reply) == 'table' and reply.err then
      return reply
    end
    total = total + reply
  end
  return SUMMED[code] and total or reply
end

local function apply_op(op)
  local a = op.first
  if op.code == OP_INCR or op.code == OP_INCRF then
    if op.code == OP_INCRF then
      -- Always prechecked, so the sum is known to be finite here.
      local text = redis.call('HGET', op.key, ARGV[a]) or (ARGV[a + 2] ~= '' and ARGV[a + 2]) or '0'
      local sum = float_sum(text, ARGV[a + 1])
      redis.call('HSET', op.key, ARGV[a], sum)
      return sum
    end
    if ARGV[a + 2] ~= '' then
      redis.call('HSETNX', op.key, ARGV[a], ARGV[a + 2])
    end
    -- Lua numbers are doubles: beyond 2^53 the exact value is read back as text.
    local reply = redis.pcall('HINCRBY', op.key, ARGV[a], ARGV[a + 1])
    if type(reply) == 'number' and (reply >= 9007199254740992 or reply <= -9007199254740992) then
      return redis.call('HGET', op.key, ARGV[a])
    end
    return reply
  elseif op.code == OP_MV then
    -- A field renamed in the schema: move an instance's value from the old name first.
    local new, old = ARGV[a], ARGV[a + 1]
    if redis.call('HEXISTS', op.key, new) == 0 then
      local value = redis.call('HGET', op.key, old)
      if value then
        redis.call('HSET', op.key, new, value)
        redis.call('HDEL', op.key, old)
      end
    end
    return 0
  elseif op.code == OP_EXPECT then
    return 1
  elseif op.code == OP_COND then
    return 1
  elseif op.code == OP_IMAX or op.code == OP_IMIN or op.code == OP_FMAX or op.code == OP_FMIN then
    -- Prechecked: the current value parses.
    local current = redis.call('HGET', op.key, ARGV[a]) or nil
    local keep = extreme(op.code, current or (ARGV[a + 2] ~= '' and ARGV[a + 2]) or nil, ARGV[a + 1])
    if keep ~= current then
      redis.call('HSET', op.key, ARGV[a], keep)
    end
    return keep
  elseif op.code == OP_CAS then
    local current = redis.call('HGET', op.key, ARGV[a]) or nil
    if current ~= cas_text(ARGV[a + 1]) then
      return 0
    end
    local new = cas_text(ARGV[a + 2])
    if new then
      redis.call('HSET', op.key, ARGV[a], new)
    else
      redis.call('HDEL', op.key, ARGV[a])
    end
    return 1
  elseif op.code == OP_ZINCR then
    -- Prechecked: the sum is finite.
    local sum = float_sum(redis.call('ZSCORE', op.key, ARGV[a]) or '0', ARGV[a + 1])
    redis.call('ZADD', op.key, sum, ARGV[a])
    return sum
  elseif op.code == OP_TAKE then
    local value = redis.call('HGET', op.key, ARGV[a])
    if value then
      redis.call('HDEL', op.key, ARGV[a])
    end
    return value
  elseif op.code == OP_APPEND then
    local text = (redis.call('HGET', op.key, ARGV[a]) or '') .. ARGV[a + 1]
    redis.call('HSET', op.key, ARGV[a], text)
    return #text
  elseif op.code == OP_DTADD then
    -- Prechecked: the sum is a datetime RFC 3339 can write.
    local text = redis.call('HGET', op.key, ARGV[a]) or ARGV[a + 3]
    local sum = datetime_plus(text, ARGV[a + 1], ARGV[a + 2])
    redis.call('HSET', op.key, ARGV[a], sum)
    return sum
  elseif op.code == OP_SUNION or op.code == OP_SINTER or op.code == OP_SDIFF then
    return redis.pcall(string.upper(op.code), op.key, unpack(op.extra))
  elseif op.code == OP_EXPIRY then
    local ms = ARGV[a] ~= '' and tonumber(ARGV[a]) or nil
    local has_memo = ARGV[a + 2] == '1'
    local k, ni = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local registry, memo = op.extra[1], has_memo and op.extra[2] or nil
    local first = has_memo and 3 or 2
    local keys, indexes = {}, {}
    for j = 1, k do
      keys[j] = op.extra[first + j - 1]
    end
    for j = 1, ni do
      local at = a + 5 + 4 * (j - 1)
      indexes[j] = { kind = ARGV[at], path = ARGV[at + 1], old = ARGV[at + 2], part = ARGV[at + 3],
        key = op.extra[first + k + j - 1] }
    end
    set_expiry(keys, registry, memo, ARGV[a + 1], ms, indexes)
    return 1
  elseif op.code == OP_LSET then
    local len = redis.call('LLEN', op.key)
    local index = tonumber(ARGV[a])
    if index < -len or index >= len then
      return 0
    end
    local reply = redis.pcall('LSET', op.key, ARGV[a], ARGV[a + 1])
    if type(reply) == 'table' and reply.err then
      return reply
    end
    return 1
  end
  return call(op.code, op.key, a, op.argc)
end

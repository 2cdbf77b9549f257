-- Unique values of a model whose unique index lives in another slot than its instances (a model
-- with several buckets, on a cluster): each step of a claim is one script in the index's slot
-- (see runtime/src/claims.rs). Records are described in index.lua. (The protocol prelude and
-- index.lua come first.)
-- KEYS[1] the unique index. ARGV[1] step, ARGV[2] value, then per step:
--   reserve pk token lease_ms        no record, or one of pk's own: pk's pending claim is written;
--                                    { 'ok', deadline, previous record or '' }. A live pending
--                                    claim of another pk: { 'held', holder }. A committed claim of
--                                    another pk, or an expired pending one: { 'verify', holder,
--                                    record } (the client checks the holder's instance).
--   take record pk token lease_ms    the record is unchanged: pk's pending claim replaces it;
--                                    { 'ok', deadline, record }, else { 'changed' }
--   promote record                   the record is unchanged: committed for its holder (1), else 0
--   confirm pk token                 our pending claim is there: committed (1), else 0
--   restore pk token previous        our pending claim is there: `previous` is put back ('' for
--                                    none); 1, else 0
--   release pk                       a committed claim of pk: deleted (1), else 0
--   drop record                      the record is unchanged: deleted (1), else 0 (reindex)
--   drop_expired record              the same, for a pending record past its deadline only
--   promote_expired record           promote, for a pending record past its deadline only
local key, step, value = KEYS[1], ARGV[1], ARGV[2]
local record = redis.call('HGET', key, value) or nil
local now = now_ms()

local function pending(pk, token, lease)
  local deadline = now + tonumber(lease)
  redis.call('HSET', key, value, '?' .. deadline .. ':' .. token .. ':' .. pk)
  return deadline
end

if step == 'reserve' then
  local pk, token, lease = ARGV[3], ARGV[4], ARGV[5]
  local holder, state, _, deadline = claim_parts(record)
  if not holder or holder == pk then
    return { 'ok', pending(pk, token, lease), record or '' }
  end
  if state == '?' and deadline >= now then
    return { 'held', holder }
  end
  return { 'verify', holder, record }
elseif step == 'take' then
  if record ~= ARGV[3] then
    return { 'changed' }
  end
  return { 'ok', pending(ARGV[4], ARGV[5], ARGV[6]), ARGV[3] }
elseif step == 'drop' or step == 'drop_expired' then
  local _, state, _, deadline = claim_parts(record)
  if record ~= ARGV[3] or (step == 'drop_expired' and (state ~= '?' or deadline >= now)) then
    return 0
  end
  redis.call('HDEL', key, value)
  return 1
elseif step == 'promote' or step == 'promote_expired' then
  local holder, state, token, deadline = claim_parts(record)
  if record ~= ARGV[3] or state ~= '?' or (step == 'promote_expired' and deadline >= now) then
    return 0
  end
  redis.call('HSET', key, value, '=' .. token .. ':' .. holder)
  return 1
end

local holder, state, token = claim_parts(record)
if step == 'confirm' then
  if holder ~= ARGV[3] or state ~= '?' or token ~= ARGV[4] then
    return 0
  end
  redis.call('HSET', key, value, '=' .. token .. ':' .. holder)
  return 1
elseif step == 'restore' then
  if holder ~= ARGV[3] or state ~= '?' or token ~= ARGV[4] then
    return 0
  end
  if ARGV[5] == '' then
    redis.call('HDEL', key, value)
  else
    redis.call('HSET', key, value, ARGV[5])
  end
  return 1
elseif step == 'release' then
  if holder ~= ARGV[3] or state ~= '=' then
    return 0
  end
  redis.call('HDEL', key, value)
  return 1
end
return redis.error_reply('ERR unknown claim step ' .. step)

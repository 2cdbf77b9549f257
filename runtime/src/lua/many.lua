-- Runs `one` (write_one or delete_one, defined before) for several instances, in order, in one
-- script: each instance is written as its own script would write it, and sees what the ones
-- before it did.
-- KEYS: each instance's KEYS in turn. ARGV[1] n, then per instance the number of its KEYS and
-- of its ARGV, then each instance's ARGV in turn.
-- Returns per instance { 1, reply } or { 0, error } (the error reply's text, as its own script
-- would have failed: that instance is untouched).
local function run_many(one)
  local n = tonumber(ARGV[1])
  local kpos, apos = 0, 1 + 2 * n
  local out = {}
  for i = 1, n do
    local kc, ac = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
    local k, a = {}, {}
    for j = 1, kc do
      k[j] = KEYS[kpos + j]
    end
    for j = 1, ac do
      a[j] = ARGV[apos + j]
    end
    kpos, apos = kpos + kc, apos + ac
    local reply = one(k, a)
    if type(reply) == 'table' and reply.err then
      out[i] = { 0, reply.err }
    else
      out[i] = { 1, reply }
    end
  end
  return out
end

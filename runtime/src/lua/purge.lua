-- Forgets the expired instances of one bucket of a model whose instances expire and are
-- indexed: their index entries (as the memo lists them), memo entries and registry entries.
-- (The protocol prelude and index.lua come first.) Sent alone (`Repo::purge_expired`, reindex,
-- counts) or before a query (query.lua follows), so that no query sees an expired instance.
-- KEYS[1] the index key queried (unused here), KEYS[2] the registry, KEYS[3] the memo (absent
-- for a model without indexes).
-- At most 1000 instances per call: with more left, the call fails with E_PURGING and is sent
-- again (each call forgets some, so the calls end).
do
  local now = now_ms()
  if not purge(KEYS[2], KEYS[3], now, 1000) then
    return fail(E_PURGING, 1)
  end
end

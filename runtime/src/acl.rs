//! The least-privilege ACL rule for an application's Redis user: the commands rapyer sends (and
//! its scripts call), on the keys of its namespace only. `docs/security.md` shows it, and a test
//! runs every API as a user with exactly this rule.

/// The `ACL SETUSER` rule (after the user name, `on` and its password) that lets a client with
/// `namespace` do everything rapyer does, and nothing outside `namespace:*`:
///
/// - keys `namespace:*` only, no pub/sub channels;
/// - data commands (`@read`, `@write`), MULTI/EXEC/WATCH (`@transaction`), HELLO, AUTH, WAIT,
///   ASKING (`@connection`), rapyer's Lua as functions (`FCALL`, `FUNCTION LOAD`) and as
///   scripts (`EVAL`/`EVALSHA`/`SCRIPT LOAD`), and `TIME` (locks and claims read the server's
///   clock);
/// - minus every `@dangerous` command (FLUSHALL, KEYS, CONFIG, DEBUG, ...), and the function
///   commands `@write` grants that could remove or replace other libraries (`FUNCTION FLUSH`,
///   `DELETE`, `RESTORE`), then `CLUSTER SLOTS` back (the slot map of a cluster).
///
/// A user whose rule predates functions (no `FCALL`) still works: the client falls back to
/// scripts (see [`ClientBuilder::functions`](crate::ClientBuilder::functions)).
///
/// `CONFIG GET maxmemory-policy` is not granted: the eviction check at connect is skipped for
/// such a user (see [`ServerInfo::maxmemory_policy`](crate::ServerInfo::maxmemory_policy)).
pub fn acl_rule(namespace: &str) -> String {
    format!(
        "resetkeys ~{namespace}:* resetchannels -@all +@read +@write +@transaction +@connection \
         +fcall +function|load +eval +evalsha +script|load +time -@dangerous -function|flush \
         -function|delete -function|restore +cluster|slots"
    )
}

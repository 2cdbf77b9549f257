//! The Lua scripts rapyer runs (each a [`Lua`], sent by EVALSHA). A server that lost its script
//! cache (restart, failover, `SCRIPT FLUSH`) answers NOSCRIPT, which means the script did not run
//! at all; the same call is then sent again as an EVAL with the script's body, which runs it and
//! caches it on that node, so every call runs exactly once (see `conn::execute`).
//!
//! Every script starts with a `#!lua` line (with `flags=no-writes` for those that only read):
//! on Redis Cluster such a script may only touch the keys it declares, so a key of another slot
//! fails loudly instead of working by accident while two slots share a node. Then comes the
//! generated prelude of [`protocol`](crate::protocol) (the codes shared with Rust), then the
//! script's own files.

use std::sync::LazyLock;

use crate::protocol;
use crate::script::{Access, Lua};

/// A script of `files` after the protocol's prelude.
fn lua(access: Access, files: &[&str]) -> Lua {
    Lua::new(access, &protocol::lua_prelude(), files)
}

/// Functions several scripts share: the server's time, reading a container (see
/// `lua/common.lua`).
const COMMON: &str = include_str!("lua/common.lua");

/// Index maintenance functions, shared by every script that writes an instance (after the
/// shared functions, and the datetime functions that sorted datetime indexes and datetime
/// operations use).
const INDEX: &str = concat!(
    include_str!("lua/common.lua"),
    include_str!("lua/datetime.lua"),
    include_str!("lua/index.lua")
);

/// Whole-instance writes (see `lua/write_instance.lua`).
const WRITE_ONE: &str = include_str!("lua/write_instance.lua");

/// Whole-instance deletes (see `lua/delete_instance.lua`).
const DELETE_ONE: &str = include_str!("lua/delete_instance.lua");

/// Runs a one-instance function for several instances (see `lua/many.lua`).
const MANY: &str = include_str!("lua/many.lua");

/// Whole-instance insert/save/update/get-or-insert.
pub(crate) static WRITE_INSTANCE: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[INDEX, WRITE_ONE, "return write_one(KEYS, ARGV)\n"],
    )
});

/// The same for several instances in one call.
pub(crate) static WRITE_MANY: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[INDEX, WRITE_ONE, MANY, "return run_many(write_one)\n"],
    )
});

/// Positions in sorted sets, for queries and paging (see `lua/ranks.lua`).
const RANKS: &str = include_str!("lua/ranks.lua");

/// Index queries (see `lua/query.lua`).
pub(crate) static QUERY: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::ReadsOnly,
        &[INDEX, RANKS, include_str!("lua/query.lua")],
    )
});

/// Forgetting expired instances, alone (see `lua/purge.lua`). It only deletes, so it runs on a
/// server out of memory too.
pub(crate) static PURGE: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Purges,
        &[INDEX, include_str!("lua/purge.lua"), "return 1\n"],
    )
});

/// Index queries of a model whose instances expire: the expired ones are forgotten first.
pub(crate) static QUERY_EXPIRING: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Purges,
        &[
            INDEX,
            RANKS,
            include_str!("lua/purge.lua"),
            include_str!("lua/query.lua"),
        ],
    )
});

/// Index rebuilding (see `lua/reindex.lua`).
pub(crate) static REINDEX: LazyLock<Lua> =
    LazyLock::new(|| lua(Access::Writes, &[INDEX, include_str!("lua/reindex.lua")]));

/// Whole-instance delete.
pub(crate) static DELETE_INSTANCE: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[INDEX, DELETE_ONE, "return delete_one(KEYS, ARGV)\n"],
    )
});

/// The same for several instances in one call.
pub(crate) static DELETE_MANY: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[INDEX, DELETE_ONE, MANY, "return run_many(delete_one)\n"],
    )
});

/// Reads whole instances (see `lua/read_instances.lua`).
pub(crate) static READ_INSTANCES: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::ReadsOnly,
        &[COMMON, include_str!("lua/read_instances.lua")],
    )
});

/// The same, re-arming the TTL of the instances read (a model with `refresh: read`).
pub(crate) static READ_INSTANCES_REFRESHING: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[COMMON, include_str!("lua/read_instances.lua")],
    )
});

/// Count or list the live pks of a model (see `lua/live_pks.lua`).
pub(crate) static LIVE_PKS: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::ReadsOnly,
        &[COMMON, RANKS, include_str!("lua/live_pks.lua")],
    )
});

/// Field operations and pipelines (see `lua/ops.lua`). The single-op fast path comes first,
/// before the index functions and the general layout are defined (it is the hot path).
pub(crate) static OPS: LazyLock<Lua> = LazyLock::new(|| {
    lua(
        Access::Writes,
        &[
            include_str!("lua/ops_single.lua"),
            INDEX,
            include_str!("lua/ops.lua"),
        ],
    )
});

/// Unique claims on a cluster (see `lua/claims.lua`).
pub(crate) static CLAIMS: LazyLock<Lua> =
    LazyLock::new(|| lua(Access::Writes, &[INDEX, include_str!("lua/claims.lua")]));

/// Locks: acquire, release, extend (see `lua/lock.lua`).
pub(crate) static LOCK: LazyLock<Lua> =
    LazyLock::new(|| lua(Access::Writes, &[include_str!("lua/lock.lua")]));
